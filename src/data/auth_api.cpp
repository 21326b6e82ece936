// Signing in to auth collections: tokens, auth-with-password, and who a
// request's token names.
#include <cmath>
#include <nlohmann/json.hpp>

#include "base/json.h"
#include "base/login_throttle.h"
#include "base/strings.h"
#include "crypto/jwt.h"
#include "crypto/password.h"
#include "data/records_internal.h"
#include "http/multipart.h"

namespace hearth::data::records {

constexpr int64_t kTokenSeconds = 7 * 24 * 3600;

std::string IssueToken(const App& app, const Collection& c, const std::string& id,
                       const std::string& token_key) {
  json payload = {{"id", id},
                  {"collectionId", c.id},
                  {"type", "auth"},
                  {"refreshable", true},
                  {"exp", static_cast<int64_t>(time(nullptr)) + kTokenSeconds}};
  return crypto::MakeJwt(payload, app.token_secret() + token_key);
}

std::optional<AuthRow> ReadAuthRow(store::Connection& rd, const Collection& c, const char* where,
                                   std::string_view value) {
  auto st = rd.Cached("SELECT " + SelectColumns(c, "r") + ", r.\"password\", r.\"tokenKey\" FROM " +
                      QuoteIdent(c.name) + " AS r WHERE r." + where + " = ?1");
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
  if (token.size() > 7 && EqualsIgnoreCase(token.substr(0, 7), "bearer "))
    token = TrimOws(token.substr(7));
  auto payload = crypto::PeekJwt(token);
  if (!payload || !payload->is_object() || !(*payload)["type"].is_string() ||
      (*payload)["type"].get<std::string>() != "auth" || !(*payload)["id"].is_string() ||
      !(*payload)["collectionId"].is_string())
    return;
  const Collection* c = nullptr;
  for (const auto& [n, col] : x.schema->collections)
    if (col.id == (*payload)["collectionId"].get<std::string>() && col.IsAuth()) c = &col;
  if (!c) return;
  auto row = ReadAuthRow(rd, *c, "\"id\"", (*payload)["id"].get<std::string>());
  if (!row || !crypto::CheckJwt(token, x.app->token_secret() + row->token_key, time(nullptr)))
    return;
  x.auth = std::move(row->record);
  x.auth_token_key = std::move(row->token_key);
}

// Sign-in by email and password. Guessing is throttled as the console's
// login is (base/login_throttle.h): per client network and per account
// (this app's collection and email), 429 + Retry-After past it; the checks
// wait on the app's bounded password queue (503 past it), and a password
// longer than any that can be set is refused without hashing it.
void AuthWithPassword(Ctx& x, Request& req, Response& res, store::Connection& rd) {
  auto parsed = ParseJson(req.body);
  json body = parsed.ok() ? std::move(parsed).value() : json();
  if (!body.is_object() || !body["identity"].is_string() || !body["password"].is_string())
    return PbError(
        res, 400, "Failed to authenticate.",
        {{"identity", {{"code", "validation_required"}, {"message", "Cannot be blank."}}}});
  std::string identity = body["identity"].get<std::string>(),
              password = body["password"].get<std::string>();
  if (identity.size() > 254 || password.empty() || password.size() > 256)
    return PbError(res, 400, "Failed to authenticate.");
  std::string client = ClientNetwork(req.ClientIp());
  // One account is one collection's email, whatever its case.
  std::string account = x.c->id + "/" + identity;
  LoginThrottle& throttle = x.app->throttle();
  int64_t now = time(nullptr);
  if (int64_t wait = throttle.Try(client, account, now); wait > 0) {
    PbError(res, 429, "Too many failed attempts; try again later.");
    res.SetHeader("Retry-After", std::to_string(wait));
    return;
  }
  auto row = ReadAuthRow(rd, *x.c, "\"email\"", identity);
  auto reply = res.Defer();
  bool posted = x.apps->passwords().TryPost(
      [row, password = std::move(password), reply, app = x.app, c = x.c, schema = x.schema, client,
       account]() {
        // An unknown identity costs the same time as a wrong password.
        bool ok = row ? crypto::VerifyPassword(row->password_hash, password)
                      : (crypto::HashPassword(password), false);
        if (!ok)
          return reply->Finish([](Response& r) { PbError(r, 400, "Failed to authenticate."); });
        app->throttle().Succeeded(client, account, time(nullptr));
        json out = {
            {"token", IssueToken(*app, *c, row->record["id"].get<std::string>(), row->token_key)},
            {"record", row->record}};
        (void)schema;  // keeps `c` alive
        reply->Finish([out](Response& r) { PbJson(r, 200, out); });
      },
      Apps::kMaxPasswordWork);
  if (!posted) {
    throttle.Undo(client, account, now);  // never checked: not a guess
    reply->Finish([](Response& r) { BusyError(r); });
  }
}

}  // namespace hearth::data::records
