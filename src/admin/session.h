#pragma once
// Admin console sessions. Logging in (with an admin-scope token, or as an
// admin user with an email and a password) makes a session: a random secret
// in an HttpOnly, SameSite=Strict cookie. Over HTTPS the cookie is
// "__Host-hearth_admin" (Secure, Path=/, no Domain: no other host nor a
// plain-HTTP answer can set or shadow it); over plain HTTP it is
// "hearth_admin" with Path=/_hearth/. hearth.db keeps only the secret's
// SHA-256, the session's CSRF token and its expiry, so sessions survive a
// restart, every worker sees them, and a stolen database copy holds no
// usable cookie. Sessions last kSessionSeconds from login (a token's session
// no longer than the token); logout deletes one at once, and so does
// revoking the token a session was made with.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "store/store.h"

namespace hearth::admin {

inline constexpr std::string_view kSessionCookie = "hearth_admin";
inline constexpr std::string_view kSecureSessionCookie = "__Host-hearth_admin";
// The cookie's name on a connection: the __Host- one over HTTPS.
inline std::string_view SessionCookieName(bool secure) {
  return secure ? kSecureSessionCookie : kSessionCookie;
}
inline constexpr int64_t kSessionSeconds = 12 * 3600;

struct Session {
  std::string hash;  // hex SHA-256 of the cookie's secret
  std::string csrf;  // every form of this session carries it
  int64_t expires_at = 0;
  int64_t user_id = 0;   // the admin user logged in; 0: logged in with an admin token
  std::string user;      // that user's email ("" for a token)
  std::string token_id;  // the admin token logged in with ("" for a user)
};

// The value of cookie `name` in a Cookie header ("" if absent).
std::string_view CookieValue(std::string_view cookie_header, std::string_view name);

// The live session the Cookie header names, looked up on `rd`. `secure`:
// the request came over HTTPS (which names the cookie).
std::optional<Session> FindSession(store::Connection& rd, std::string_view cookie_header,
                                   bool secure = false);

// Whether the session with this hash is still live (not logged out, not
// expired, its user not removed nor given a new password, its token not
// revoked nor expired): a stream opened
// under a session asks before each thing it sends.
bool SessionLive(store::Connection& rd, const std::string& hash);

// A new session: the cookie's secret, and the row to store (see StoreSession).
struct NewSession {
  std::string secret;
  Session row;
};
NewSession MakeSession(int64_t now);

// Inside a write: stores `s` (and the user's last login) and drops expired
// sessions. A token's session (s.token_id) is stored only if the token is
// still a live admin token (one revoked while logging in makes none).
// A user's session (s.user_id) is stored only if the user still
// has `verified_hash`, the password hash the login was checked against: a
// password changed or a user removed while the login was being checked
// fails it (kStaleLogin) rather than making a session the change missed.
Status StoreSession(store::Connection& c, const Session& s, int64_t now,
                    std::string_view verified_hash = {});
inline constexpr std::string_view kStaleLogin = "the admin's password changed while logging in";
// Inside a write: deletes the session with this hash.
Status DeleteSession(store::Connection& c, const std::string& hash);

// The Set-Cookie value that sets (or, with an empty secret, clears) the
// cookie, for `max_age` seconds.
std::string SessionCookie(std::string_view secret, bool secure, int64_t max_age = kSessionSeconds);

// Whether two secrets are equal, in time that does not depend on where they differ.
bool SameSecret(std::string_view a, std::string_view b);

}  // namespace hearth::admin
