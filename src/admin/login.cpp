// The console's login page: an admin user's email and password, or an admin
// token. Both make the same session (session.h); a user's session names the
// user, so removing the user or changing the password ends it.
#include "admin/login.h"

#include <arpa/inet.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <ctime>
#include <memory>

#include "admin/common.h"
#include "admin/html.h"
#include "admin/session.h"
#include "api/tokens.h"
#include "base/log.h"
#include "base/login_throttle.h"
#include "base/strings.h"
#include "control/admins_api.h"
#include "crypto/password.h"
#include "data/schema.h"
#include "http/path.h"

namespace hearth::admin {
LoginThrottle& SharedLoginThrottle() {
  static LoginThrottle throttle;
  return throttle;
}

std::string SafeNext(std::string_view next) {
  constexpr std::string_view kBase = "/_hearth/";
  // In its normal form (http/path.h), so the prefix test holds for what the
  // browser will ask: no "//", '\\', dot segments or encoded separators.
  std::string normal;
  std::string_view path = next.substr(0, next.find('?'));
  if (next.substr(0, kBase.size()) != kBase ||
      NormalizePath(path, &normal) != PathNormal::kUnchanged)
    return "/_hearth/";
  if (next.find("//") != std::string_view::npos || next.find('\\') != std::string_view::npos)
    return "/_hearth/";
  for (unsigned char c : next)
    if (c < 0x21 || c > 0x7e) return "/_hearth/";
  return std::string(next);
}

namespace {

struct LoginView {
  std::string next;
  std::string error;
  std::string email;        // typed before a failed try
  bool has_users = false;   // offer the email form
  bool token_open = false;  // the token form was the one used
};

void LoginForm(Response& res, int status, const LoginView& v) {
  std::string token_form =
      "<form method=\"post\" action=\"/_hearth/login\">"
      "<input type=\"hidden\" name=\"next\" value=\"" +
      Escape(v.next) +
      "\">"
      "<label for=\"token\">Admin token</label>"
      "<input id=\"token\" name=\"token\" type=\"password\" autocomplete=\"off\" required" +
      std::string(v.has_users ? "" : " autofocus") +
      " aria-describedby=\"token-hint\">"
      "<p class=\"hint\" id=\"token-hint\">hearth printed it on its first start; it is also in "
      "<code>hearth-data/admin.token</code>.</p>"
      "<p><button type=\"submit\">" +
      std::string(v.has_users ? "Log in with the token" : "Log in") + "</button></p></form>";
  std::string body = "<div class=\"login card\"><h1>Log in to hearth</h1>";
  if (v.has_users) {
    body +=
        "<form method=\"post\" action=\"/_hearth/login\">"
        "<input type=\"hidden\" name=\"next\" value=\"" +
        Escape(v.next) +
        "\">"
        "<label for=\"email\">Email</label>"
        "<input id=\"email\" name=\"email\" type=\"email\" autocomplete=\"username\" required "
        "value=\"" +
        Escape(v.email) + "\"" + (v.token_open || !v.email.empty() ? "" : " autofocus") +
        ">"
        "<label for=\"password\">Password</label>"
        "<input id=\"password\" name=\"password\" type=\"password\" "
        "autocomplete=\"current-password\" required" +
        std::string(!v.token_open && !v.email.empty() ? " autofocus" : "") +
        ">"
        "<p><button type=\"submit\">Log in</button></p></form>"
        "<details" +
        std::string(v.token_open ? " open" : "") +
        "><summary>Log in with an admin token instead</summary>" + token_form + "</details>";
  } else {
    body += token_form +
            "<p class=\"hint\">To log in with an email and a password, add an admin user on the "
            "Admins page "
            "(or with <code>hearth admins add EMAIL</code>).</p>";
  }
  body += "</div>";
  PageOptions o = Page("Log in");
  o.flash = v.error;
  o.flash_error = !v.error.empty();
  Html(res, status, RenderPage(o, body));
}

bool HasAdminUsers(store::Connection& rd) {
  store::Statement st = rd.Named("admins.count");
  Status s = OkStatus();
  return st.Step(&s) && st.Int(0) > 0;
}

// Answers the login with a new session (for `user_id`; 0: the token
// `token`) once it is stored. A token's session ends when the token expires.
void StartSession(sites::SitesShared* shared, std::shared_ptr<Reply> reply, int64_t user_id,
                  std::string hash, bool secure, LoginView view, std::string ip, std::string email,
                  const api::TokenInfo* token = nullptr) {
  int64_t now = static_cast<int64_t>(time(nullptr));
  auto fresh = std::make_shared<NewSession>(MakeSession(now));
  fresh->row.user_id = user_id;
  if (token) {
    fresh->row.token_id = token->id;
    if (token->expires_at != 0)
      fresh->row.expires_at = std::min(fresh->row.expires_at, token->expires_at);
  }
  std::string next = view.next;
  shared->store->SubmitWrite(
      [fresh, now, hash](store::Connection& c) { return StoreSession(c, fresh->row, now, hash); },
      [reply, fresh, secure, next, view, ip, email, now](const Status& st) mutable {
        // Logged once the session is stored: a login refused at the
        // last moment is not one.
        if (st.ok() && email.empty())
          Log(LogLevel::kInfo, "admin console: logged in with the admin token", {{"client", ip}});
        else if (st.ok())
          Log(LogLevel::kInfo, "admin console: logged in", {{"client", ip}, {"email", email}});
        else if (st.error().message == kStaleLogin && email.empty())
          Log(LogLevel::kWarn,
              "admin console: a login refused: the token was revoked while it was checked",
              {{"client", ip}});
        else if (st.error().message == kStaleLogin)
          Log(LogLevel::kWarn,
              "admin console: a login refused: the password changed while it was checked",
              {{"client", ip}, {"email", email}});
        reply->Finish([st, fresh, secure, next, view, now](Response& out) mutable {
          if (!st.ok() && st.error().message == kStaleLogin) {
            view.error = view.token_open ? "That token is not an admin token of this server."
                                         : "Wrong email or password.";
            return LoginForm(out, 401, view);
          }
          if (!st.ok()) {
            Html(out, 503,
                 RenderPage(Page("Error"),
                            "<h1>Cannot log in now</h1><p>" + Escape(st.error().message) + "</p>"));
            return;
          }
          SeeOther(out, next);
          out.SetHeader("Set-Cookie",
                        SessionCookie(fresh->secret, secure, fresh->row.expires_at - now));
        });
      });
}

// A hash no password matches in practice: an unknown email costs the same
// argon2id work as a known one, so the answer's timing does not tell them apart.
const std::string& DecoyHash() {
  static const std::string hash = crypto::HashPassword(api::NewToken());
  return hash;
}

// Password checks queued or running, and their bound.
std::atomic<int> g_checking{0};
constexpr int kMaxChecking = 8;

}  // namespace

void WarmLogin(sites::SitesShared* shared) {
  // Made once, off the workers, before the first login could be timed by it.
  shared->background.Post([] { (void)DecoyHash(); });
}

void ServeLogin(sites::SitesShared* shared, int reader, Request& req, Response& res) {
  store::Connection& rd = shared->store->Reader(reader);
  LoginView view;
  view.has_users = HasAdminUsers(rd);
  if (req.method != Method::kPost) {
    if (req.method != Method::kGet && req.method != Method::kHead) {
      res.SetError(405);
      res.SetHeader("Allow", "GET, POST");
      return;
    }
    Form query;
    (void)ParseQueryString(req.query, &query);
    view.next = SafeNext(FormValue(query, "next"));
    return LoginForm(res, 200, view);
  }
  Form form;
  (void)ParseQueryString(req.body, &form);
  view.next = SafeNext(FormValue(form, "next"));
  bool with_token = !FormValue(form, "token").empty() || FormValue(form, "email").empty();
  view.token_open = with_token;
  view.email = std::string(TrimOws(FormValue(form, "email")));
  std::string client = ClientNetwork(req.ClientIp());
  std::string email = with_token ? "" : view.email;
  int64_t now = static_cast<int64_t>(time(nullptr));
  LoginThrottle& throttle = SharedLoginThrottle();
  if (int64_t wait = throttle.Try(client, email, now); wait > 0) {
    view.error = "Too many failed logins. Try again in " +
                 (wait < 90 ? std::to_string(wait) + " seconds."
                            : std::to_string((wait + 59) / 60) + " minutes.");
    LoginForm(res, 429, view);
    res.SetHeader("Retry-After", std::to_string(wait));
    return;
  }
  bool secure = req.tls;
  if (with_token) {
    // The console does everything an admin can (its pages call the API
    // with no scope check): only an admin-scope token logs in.
    auto token = api::ResolveToken(shared->store, reader, FormValue(form, "token"));
    if (!token || token->scope.kind != api::TokenScope::Kind::kAdmin) {
      Log(LogLevel::kWarn,
          token ? "admin console: a login with a token that is not an admin token"
                : "admin console: a login with an unknown token",
          {{"client", std::string(req.ClientIp())}});
      view.error = "That token is not an admin token of this server.";
      return LoginForm(res, 401, view);
    }
    throttle.Succeeded(client, "", now);
    auto reply = res.Defer();
    if (!reply) return Html(res, 500, RenderPage(Page("Error"), "<h1>Cannot log in now</h1>"));
    return StartSession(shared, reply, 0, "", secure, view, std::string(req.ClientIp()), "",
                        &*token);
  }
  std::string password = FormValue(form, "password");
  if (password.empty()) {
    view.error = "Enter your password.";
    return LoginForm(res, 400, view);
  }
  int64_t user_id = 0;
  std::string hash;
  {
    store::Statement st = rd.Named("admins.by_email");
    st.Bind(1, email);
    Status s = OkStatus();
    if (st.Step(&s)) {
      user_id = st.Int(0);
      hash = std::string(st.Text(2));
    }
  }
  // Checks queued at once are bounded: many client networks, each within
  // its own budget, cannot pile up argon2id work (19 MiB, tens of ms each)
  // on the queue deploys also use.
  if (g_checking.fetch_add(1) >= kMaxChecking) {
    g_checking.fetch_sub(1);
    SharedLoginThrottle().Undo(client, email, now);  // not an attempt: never checked
    view.error = "Too many logins at once. Try again in a moment.";
    LoginForm(res, 503, view);
    res.SetHeader("Retry-After", "2");
    return;
  }
  auto reply = res.Defer();
  if (!reply) {
    g_checking.fetch_sub(1);
    return Html(res, 500, RenderPage(Page("Error"), "<h1>Cannot log in now</h1>"));
  }
  std::string ip(req.ClientIp());
  // argon2id takes tens of milliseconds: never on a worker.
  shared->background.Post([shared, reply, view, client, email, ip, password, user_id, hash,
                           secure]() mutable {
    bool ok = password.size() <= control::kMaxAdminPassword &&
              crypto::VerifyPassword(user_id ? hash : DecoyHash(), password) && user_id != 0;
    g_checking.fetch_sub(1);
    int64_t at = static_cast<int64_t>(time(nullptr));
    if (!ok) {
      // What was typed as the email is logged only if it is one: a password
      // or a token pasted into the wrong box must not reach the log.
      Log(LogLevel::kWarn, "admin console: a failed login",
          {{"client", ip},
           {"email", data::LooksLikeEmail(email) ? email : std::string("(not an email address)")}});
      view.error = "Wrong email or password.";
      return reply->Finish([view](Response& r) { LoginForm(r, 401, view); });
    }
    SharedLoginThrottle().Succeeded(client, email, at);
    StartSession(shared, reply, user_id, hash, secure, view, ip, email);
  });
}

}  // namespace hearth::admin
