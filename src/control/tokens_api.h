#pragma once
// /_hearth/api/tokens[/{id}]: API tokens (see docs/sites.md). Admin scope
// only (token_scope.h); answers never include a secret, except the new
// token's own, once, in the answer to POST.
//   GET    tokens        {"items": [{id, name, scope, created_at, expires_at, last_used_at}]}
//   POST   tokens        {name, scope?, expires?}  201 {id, name, scope, expires_at, token}
//                        scope: admin (default), read, deploy:SITE;
//                        expires: "30d", "12h", "2026-01-31", ... (ParseExpiry); absent: never
//   DELETE tokens/{id}   revokes it at once and ends console sessions made with it
#include <nlohmann/json.hpp>
#include <string_view>
#include <vector>

#include "control/control.h"
#include "http/request.h"
#include "http/response.h"
#include "store/sqlite.h"

namespace hearth::control {

// `seg`: the path's segments after /_hearth/api ("tokens"[, id]); `body`: the
// request's JSON object ({} when empty). The caller checked the token.
// `m`: the method of the row that serves it (GET for a HEAD). Only this
// part's rows arrive: the route table answers 404 and 405 for the rest.
void ServeTokens(ControlShared* shared, store::Connection& rd,
                 const std::vector<std::string_view>& seg, Method m, Response& res,
                 const nlohmann::json& body);

}  // namespace hearth::control
