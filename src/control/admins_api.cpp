// The control API's admin users: /_hearth/api/admins[/{email}].
#include "control/admins_api.h"

#include <memory>

#include "api/reply.h"
#include "base/log.h"
#include "base/strings.h"
#include "crypto/password.h"
#include "data/schema.h"

namespace hearth::control {

using api::Fail;
using api::Json;
using api::Outcome;
using api::Refuse;
namespace {

using nlohmann::json;

json AdminJson(store::Statement& st) {
  return {{"email", std::string(st.Text(0))},
          {"created_at", st.Int(1)},
          {"updated_at", st.Int(2)},
          {"last_login_at", st.Text(3).empty() ? json(nullptr) : json(st.Int(3))}};
}

// The password in `body`, or an answered 400.
bool TakePassword(Response& res, const json& body, std::string* out) {
  if (!body.contains("password") || !body["password"].is_string()) {
    Fail(res, 400,
         "password is required (a string of " + std::to_string(kMinAdminPassword) +
             " or more characters)");
    return false;
  }
  *out = body["password"].get<std::string>();
  if (std::string why = AdminPasswordProblem(*out); !why.empty()) {
    Fail(res, 400, why);
    return false;
  }
  return true;
}

// Hashes `password` on the background queue (argon2id takes tens of
// milliseconds and 19 MiB), then runs `write` with the hash.
void WithHash(ControlShared* shared, Response& res, std::string password,
              std::function<Status(store::Connection&, Outcome*, const std::string& hash)> write) {
  auto reply = res.Defer();
  if (!reply) return Fail(res, 500, "cannot answer later");
  shared->background->Post([shared, reply, password = std::move(password),
                            write = std::move(write)] {
    std::string hash = crypto::HashPassword(password);
    if (hash.empty()) {
      reply->Finish([](Response& r) { Fail(r, 500, "the password could not be hashed"); });
      return;
    }
    api::SubmitWrite(shared->store, reply,
                     [write, hash](store::Connection& c, Outcome* o) { return write(c, o, hash); });
  });
}

}  // namespace

std::string AdminPasswordProblem(std::string_view password) {
  size_t chars = 0;
  for (unsigned char ch : password) chars += (ch & 0xC0) != 0x80;
  if (chars < kMinAdminPassword)
    return "the password is too short: use " + std::to_string(kMinAdminPassword) +
           " characters or more";
  if (password.size() > kMaxAdminPassword)
    return "the password is too long: at most " + std::to_string(kMaxAdminPassword) + " bytes";
  return "";
}

std::string AdminEmailProblem(std::string_view email) {
  if (email.empty()) return "email is required";
  if (!data::LooksLikeEmail(email)) return "\"" + std::string(email) + "\" is not an email address";
  return "";
}

void ServeAdmins(ControlShared* shared, store::Connection& rd,
                 const std::vector<std::string_view>& seg, Method m, Response& res,
                 const json& body) {
  if (seg.size() == 1) {
    if (m == Method::kGet) return api::ListItems(res, rd, "admins.list", AdminJson);
    if (!body.contains("email") || !body["email"].is_string())
      return Fail(res, 400, "email is required");
    std::string email(TrimOws(body["email"].get<std::string>()));
    if (std::string why = AdminEmailProblem(email); !why.empty()) return Fail(res, 400, why);
    std::string password;
    if (!TakePassword(res, body, &password)) return;
    return WithHash(shared, res, std::move(password),
                    [email](store::Connection& c, Outcome* o, const std::string& hash) {
                      if (Status s = c.Named("admins.insert").Bind(1, email).Bind(2, hash).Run();
                          !s.ok())
                        return s;
                      if (c.Changes() == 0)
                        return Refuse(o, 409, "there is an admin " + email + " already");
                      store::Statement st = c.Named("admins.one");
                      st.Bind(1, email);
                      Status s = OkStatus();
                      if (!st.Step(&s)) return s.ok() ? Error{"the new admin is missing"} : s;
                      o->status = 201;
                      o->body = AdminJson(st);
                      Log(LogLevel::kInfo, "added an admin user", {{"email", email}});
                      return OkStatus();
                    });
  }
  std::string email = DecodePathSegment(seg[1]);
  {
    store::Statement st = rd.Named("admins.by_email");
    st.Bind(1, email);
    Status s = OkStatus();
    if (!st.Step(&s))
      return Fail(res, s.ok() ? 404 : 500, s.ok() ? "no admin " + email : s.error().message);
  }
  if (m == Method::kPatch) {
    std::string password;
    if (!TakePassword(res, body, &password)) return;
    // A new password ends the sessions made with the old one.
    return WithHash(
        shared, res, std::move(password),
        [email](store::Connection& c, Outcome* o, const std::string& hash) {
          if (Status s = c.Named("admins.set_password").Bind(1, email).Bind(2, hash).Run(); !s.ok())
            return s;
          if (c.Changes() == 0) return Refuse(o, 404, "no admin " + email);
          if (Status s = c.Named("admins.end_sessions").Bind(1, email).Run(); !s.ok()) return s;
          o->body = {{"email", email}, {"sessions_ended", c.Changes()}};
          Log(LogLevel::kInfo, "changed an admin user's password", {{"email", email}});
          return OkStatus();
        });
  }
  api::DeferWrite(shared->store, res, [email](store::Connection& c, Outcome* o) -> Status {
    if (Status s = c.Named("admins.end_sessions").Bind(1, email).Run(); !s.ok()) return s;
    int64_t ended = c.Changes();
    if (Status s = c.Named("admins.delete").Bind(1, email).Run(); !s.ok()) return s;
    if (c.Changes() == 0) return Refuse(o, 404, "no admin " + email);
    o->body = {{"deleted", email}, {"sessions_ended", ended}};
    Log(LogLevel::kInfo, "removed an admin user", {{"email", email}});
    return OkStatus();
  });
}

}  // namespace hearth::control
