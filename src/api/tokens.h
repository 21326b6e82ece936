#pragma once
// API tokens for the control API. Only a token's SHA-256 is stored; the
// secret is shown once when made (and the first one is also saved to
// DATA/admin.token, mode 0600, so the CLI on the same machine finds it).
// A token has a name, a scope (token_scope.h), an optional expiry and a
// last-used time. Every request looks its token up again (no cache): a
// revoked or expired token is refused on its next request.
#include <cstdint>
#include <optional>
#include <string>

#include "api/routes.h"
#include "api/token_scope.h"
#include "base/result.h"
#include "http/router.h"
#include "store/store.h"

namespace hearth::api {

// "hth_" and 43 characters of base64url (32 random bytes).
std::string NewToken();

// A new token: the secret (shown once), its public id, and the hash that is stored.
struct TokenRecord {
  std::string token, id, hash;
};
TokenRecord MakeToken();

// Inside a write: stores `t` with its name, scope and expiry (0: never).
Status InsertToken(store::Connection& c, const TokenRecord& t, const std::string& name,
                   const TokenScope& scope, int64_t expires_at);

// Inserts an admin token that never expires; returns its secret.
Result<std::string> CreateToken(store::Store& store, const std::string& name);

// On a start with no working admin token (the first start, or every admin
// token revoked or expired) creates one, saves it to DATA/admin.token and
// returns it; otherwise returns "".
Result<std::string> EnsureAdminToken(store::Store& store, const std::string& data_dir);

// When a token made now with `--expires TEXT` stops working (Unix seconds):
// a duration ("30d", "12h", "2w", "90m") from `now`, or a date in UTC
// ("2026-01-31" is that day's end, "2026-01-31T12:00:00Z"). It must be in
// the future, at most ten years away.
Result<int64_t> ParseExpiry(std::string_view text, int64_t now);

// A token that works now.
struct TokenInfo {
  std::string id, name;
  TokenScope scope;
  int64_t expires_at = 0;  // 0: never
};

// The live token an Authorization value carries ("Bearer <token>", or the
// bare token as the pocketbase SDK sends it), looked up on reader `reader`;
// nullopt if it is unknown, revoked or expired. Notes the use (the token's
// last-used time is written at most once a minute, off this thread).
std::optional<TokenInfo> ResolveToken(store::Store* store, int reader,
                                      std::string_view authorization);

// Whether the Authorization value carries a live admin-scope token: the
// console's token login and the data API's superusers take only these.
bool IsAdminToken(store::Store* store, int reader, std::string_view authorization);

// The one check of a request to /_hearth/api/ or /_hearth/metrics: 0 if its
// Bearer token is live and its scope allows `target` (what the request
// touches: RouteTable::Target, MetricsTarget), else the status to answer
// (401: no token, unknown, revoked or expired; 403: outside its scope) with
// `why` set.
int AuthorizeRequest(store::Store* store, int reader, const Request& req, const ApiTarget& target,
                     std::string* why);

// Answers 401 or 403 as AuthorizeRequest decided (JSON, WWW-Authenticate).
void RefuseRequest(Response& res, int status, const std::string& why);

// Middleware for the control API: lets through only requests AuthorizeRequest
// allows, each taken for what its row in `table` declares (RouteTable::Target).
Middleware RequireToken(store::Store* store, int reader, const RouteTable* table);

}  // namespace hearth::api
