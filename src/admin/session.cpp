#include "admin/session.h"

#include <openssl/crypto.h>

#include <algorithm>

#include "api/tokens.h"
#include "base/strings.h"
#include "crypto/hash.h"

namespace hearth::admin {

std::string_view CookieValue(std::string_view header, std::string_view name) {
  // "a=1; b=2": pairs split by ';', names compared exactly (RFC 6265 5.4).
  while (!header.empty()) {
    size_t semi = header.find(';');
    std::string_view pair = TrimOws(header.substr(0, semi));
    header = semi == std::string_view::npos ? std::string_view() : header.substr(semi + 1);
    size_t eq = pair.find('=');
    if (eq == std::string_view::npos) continue;
    if (TrimOws(pair.substr(0, eq)) != name) continue;
    std::string_view v = TrimOws(pair.substr(eq + 1));
    if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
    return v;
  }
  return {};
}

namespace {

// The live session with this hash (a user's session lasts only as long as the user does).
std::optional<Session> ByHash(store::Connection& rd, const std::string& hash) {
  auto st = rd.Prepare(
      "SELECT s.csrf, s.expires_at, s.user_id, u.email, s.token_id FROM admin_sessions s "
      "LEFT JOIN admin_users u ON u.id = s.user_id "
      "WHERE s.hash = ?1 AND s.expires_at > unixepoch() AND CASE WHEN s.user_id IS NOT NULL THEN "
      "u.id IS NOT NULL "
      "ELSE EXISTS (SELECT 1 FROM tokens t WHERE t.id = s.token_id AND t.scope = 'admin' "
      "AND (t.expires_at IS NULL OR t.expires_at > unixepoch())) END");
  if (!st.ok()) return std::nullopt;
  Session s;
  s.hash = hash;
  st->Bind(1, s.hash);
  Status status = OkStatus();
  if (!st->Step(&status)) return std::nullopt;
  s.csrf = std::string(st->Text(0));
  s.expires_at = st->Int(1);
  s.user_id = st->Int(2);
  s.user = std::string(st->Text(3));
  s.token_id = std::string(st->Text(4));
  return s;
}

}  // namespace

std::optional<Session> FindSession(store::Connection& rd, std::string_view cookie_header,
                                   bool secure) {
  std::string_view secret = CookieValue(cookie_header, SessionCookieName(secure));
  if (secret.empty() || secret.size() > 128) return std::nullopt;
  return ByHash(rd, crypto::Sha256Hex(secret));
}

bool SessionLive(store::Connection& rd, const std::string& hash) {
  return ByHash(rd, hash).has_value();
}

NewSession MakeSession(int64_t now) {
  NewSession n;
  n.secret = api::NewToken();
  n.row.hash = crypto::Sha256Hex(n.secret);
  n.row.csrf = api::NewToken();
  n.row.expires_at = now + kSessionSeconds;
  return n;
}

Status StoreSession(store::Connection& c, const Session& s, int64_t now,
                    std::string_view verified_hash) {
  auto drop = c.Prepare("DELETE FROM admin_sessions WHERE expires_at <= ?1");
  if (!drop.ok()) return drop.error();
  if (Status st = drop->Bind(1, now).Run(); !st.ok()) return st;
  auto put = c.Prepare(
      "INSERT INTO admin_sessions(hash, csrf, created_at, expires_at, user_id, token_id) VALUES "
      "(?1, ?2, ?3, ?4, ?5, ?6)");
  if (!put.ok()) return put.error();
  put->Bind(1, s.hash).Bind(2, s.csrf).Bind(3, now).Bind(4, s.expires_at);
  if (s.user_id)
    put->Bind(5, s.user_id);
  else
    put->BindNull(5);  // a token's session: no user (every parameter is bound: store/sqlite.h)
  if (!s.user_id) {
    // Still a live admin token: one revoked while this login was on its way makes no session.
    auto live = c.Prepare(
        "SELECT 1 FROM tokens WHERE id = ?1 AND scope = 'admin' "
        "AND (expires_at IS NULL OR expires_at > ?2)");
    if (!live.ok()) return live.error();
    live->Bind(1, s.token_id).Bind(2, now);
    Status st = OkStatus();
    if (!live->Step(&st)) return st.ok() ? Error{std::string(kStaleLogin)} : st;
    put->Bind(6, s.token_id);
  } else {
    put->BindNull(6);  // a user's session: no token
  }
  if (s.user_id) {
    // Still this user, with this password: otherwise no session.
    if (Status st = c.Named("admins.logged_in").Bind(1, s.user_id).Bind(2, verified_hash).Run();
        !st.ok())
      return st;
    if (c.Changes() == 0) return Error{std::string(kStaleLogin)};
  }
  return put->Run();
}

Status DeleteSession(store::Connection& c, const std::string& hash) {
  auto del = c.Prepare("DELETE FROM admin_sessions WHERE hash = ?1");
  if (!del.ok()) return del.error();
  return del->Bind(1, hash).Run();
}

std::string SessionCookie(std::string_view secret, bool secure, int64_t max_age) {
  // A __Host- cookie must be Secure, Path=/ and have no Domain (RFC 6265bis
  // 4.1.3.2); the browser refuses it otherwise.
  std::string v = std::string(SessionCookieName(secure)) + "=" + std::string(secret) +
                  (secure ? "; Path=/" : "; Path=/_hearth/") + "; HttpOnly; SameSite=Strict";
  v +=
      secret.empty() ? "; Max-Age=0" : "; Max-Age=" + std::to_string(std::max<int64_t>(1, max_age));
  if (secure) v += "; Secure";
  return v;
}

bool SameSecret(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace hearth::admin
