// The control API's tokens: /_hearth/api/tokens[/{id}].
#include "control/tokens_api.h"

#include <ctime>

#include "api/reply.h"
#include "api/tokens.h"
#include "base/log.h"
#include "base/strings.h"

namespace hearth::control {

using api::Fail;
using api::InsertToken;
using api::Json;
using api::MakeToken;
using api::Outcome;
using api::ParseExpiry;
using api::ParseScope;
using api::Refuse;
using api::ScopeText;
using api::TokenRecord;
using api::TokenScope;
namespace {

using nlohmann::json;

json TokenJson(store::Statement& st) {
  return {{"id", std::string(st.Text(0))},
          {"name", std::string(st.Text(1))},
          {"scope", std::string(st.Text(2))},
          {"created_at", st.Int(3)},
          {"expires_at", st.IsNull(4) ? json(nullptr) : json(st.Int(4))},
          {"last_used_at", st.IsNull(5) ? json(nullptr) : json(st.Int(5))}};
}

void AddToken(ControlShared* shared, Response& res, const json& body) {
  std::string name = "token";
  if (body.contains("name")) {
    if (!body["name"].is_string() || body["name"].get<std::string>().empty() ||
        body["name"].get<std::string>().size() > 100)
      return Fail(res, 400, "name must be a string of 1 to 100 characters");
    name = body["name"].get<std::string>();
  }
  TokenScope scope;
  if (body.contains("scope")) {
    if (!body["scope"].is_string())
      return Fail(res, 400, "scope must be admin, read or deploy:SITE");
    auto parsed = ParseScope(body["scope"].get<std::string>());
    if (!parsed.ok()) return Fail(res, 400, parsed.error().message);
    scope = *parsed;
  }
  int64_t expires_at = 0;
  if (body.contains("expires") && !body["expires"].is_null()) {
    if (!body["expires"].is_string())
      return Fail(res, 400, "expires must be a duration (30d) or a date (YYYY-MM-DD)");
    auto at = ParseExpiry(body["expires"].get<std::string>(), static_cast<int64_t>(time(nullptr)));
    if (!at.ok()) return Fail(res, 400, "expires: " + at.error().message);
    expires_at = *at;
  }
  TokenRecord t = MakeToken();
  api::DeferWrite(shared->store, res,
                  [t, name, scope, expires_at](store::Connection& c, Outcome* o) {
                    if (Status st = InsertToken(c, t, name, scope, expires_at); !st.ok()) return st;
                    o->status = 201;
                    o->body = {{"id", t.id},
                               {"name", name},
                               {"scope", ScopeText(scope)},
                               {"expires_at", expires_at ? json(expires_at) : json(nullptr)},
                               {"token", t.token}};
                    Log(LogLevel::kInfo, "created an API token",
                        {{"id", t.id}, {"name", name}, {"scope", ScopeText(scope)}});
                    return OkStatus();
                  });
}

}  // namespace

void ServeTokens(ControlShared* shared, store::Connection& rd,
                 const std::vector<std::string_view>& seg, Method m, Response& res,
                 const json& body) {
  if (seg.size() == 1) {
    if (m == Method::kGet) return api::ListItems(res, rd, "tokens.list", TokenJson);
    return AddToken(shared, res, body);
  }
  std::string id = DecodePathSegment(seg[1]);
  api::DeferWrite(shared->store, res, [id](store::Connection& c, Outcome* o) -> Status {
    // In one transaction: no request, and no console page, sees the
    // token gone but its sessions still there.
    if (Status s = c.Named("tokens.end_sessions").Bind(1, id).Run(); !s.ok()) return s;
    int64_t ended = c.Changes();
    if (Status s = c.Named("tokens.delete").Bind(1, id).Run(); !s.ok()) return s;
    if (c.Changes() == 0) return Refuse(o, 404, "no token " + id);
    o->body = {{"deleted", id}, {"sessions_ended", ended}};
    Log(LogLevel::kInfo, "revoked an API token", {{"id", id}});
    return OkStatus();
  });
}

}  // namespace hearth::control
