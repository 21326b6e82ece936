// Signing in to auth collections: tokens, auth-with-password, and who a
// request's token names.
#include <nlohmann/json.hpp>

#include <cmath>

#include "base/strings.h"
#include "data/auth.h"
#include "data/records_internal.h"
#include "http/multipart.h"

namespace hearth::data::records {

constexpr int64_t kTokenSeconds = 7 * 24 * 3600;

std::string IssueToken(const App& app, const Collection& c, const std::string& id, const std::string& token_key) {
  json payload = {{"id", id}, {"collectionId", c.id}, {"type", "auth"}, {"refreshable", true},
                  {"exp", static_cast<int64_t>(time(nullptr)) + kTokenSeconds}};
  return MakeJwt(payload, app.token_secret() + token_key);
}

std::optional<AuthRow> ReadAuthRow(store::Connection& rd, const Collection& c, const char* where, std::string_view value) {
  auto st = rd.Cached("SELECT " + SelectColumns(c, "r") + ", r.\"password\", r.\"tokenKey\" FROM " + QuoteIdent(c.name) +
                      " AS r WHERE r." + where + " = ?1");
  if (!st.ok()) return std::nullopt;
  st->Bind(1, value);
  Status s = OkStatus();
  std::optional<AuthRow> out;
  if (st->Step(&s)) {
    int n = st->Columns();
    out = AuthRow{RowJson(c, *st), std::string(st->Text(n - 2)), std::string(st->Text(n - 1))};
  }
  st->Reset();
  return out;
}

// The signed-in record behind an Authorization value: a token (with or
// without "Bearer ") of one of this app's auth collections, signed with the
// app's secret and the record's current tokenKey, not expired. A bad token
// is a guest, as in PocketBase.
void ResolveAuth(Ctx& x, store::Connection& rd, std::string_view authorization) {
  std::string_view token = TrimOws(authorization);
  if (token.size() > 7 && EqualsIgnoreCase(token.substr(0, 7), "bearer ")) token = TrimOws(token.substr(7));
  auto payload = PeekJwt(token);
  if (!payload || !payload->is_object() || !(*payload)["type"].is_string() ||
      (*payload)["type"].get<std::string>() != "auth" || !(*payload)["id"].is_string() ||
      !(*payload)["collectionId"].is_string())
    return;
  const Collection* c = nullptr;
  for (const auto& [n, col] : x.schema->collections)
    if (col.id == (*payload)["collectionId"].get<std::string>() && col.IsAuth()) c = &col;
  if (!c) return;
  auto row = ReadAuthRow(rd, *c, "\"id\"", (*payload)["id"].get<std::string>());
  if (!row || !CheckJwt(token, x.app->token_secret() + row->token_key, time(nullptr))) return;
  x.auth = std::move(row->record);
  x.auth_token_key = std::move(row->token_key);
}

void AuthWithPassword(Ctx& x, Request& req, Response& res, store::Connection& rd) {
  json body = json::parse(req.body, nullptr, false);
  if (body.is_discarded() || !body.is_object() || !body["identity"].is_string() || !body["password"].is_string())
    return PbError(res, 400, "Failed to authenticate.",
                   {{"identity", {{"code", "validation_required"}, {"message", "Cannot be blank."}}}});
  auto row = ReadAuthRow(rd, *x.c, "\"email\"", body["identity"].get<std::string>());
  auto reply = res.Defer();
  x.apps->background().Post([row, password = body["password"].get<std::string>(), reply, app = x.app,
                             schema = x.schema, c = x.c]() {
    // An unknown identity costs the same time as a wrong password.
    bool ok = row ? VerifyPassword(row->password_hash, password) : (HashPassword(password), false);
    if (!ok)
      return reply->Finish([](Response& r) { PbError(r, 400, "Failed to authenticate."); });
    json out = {{"token", IssueToken(*app, *c, row->record["id"].get<std::string>(), row->token_key)},
                {"record", row->record}};
    (void)schema;
    reply->Finish([out](Response& r) { PbJson(r, 200, out); });
  });
}

}  // namespace hearth::data::records
