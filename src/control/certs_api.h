#pragma once
// /_hearth/api/certs: list, create self-signed, import, delete (Bearer token;
// the caller checks it). A change is served from the moment it commits.
#include <nlohmann/json.hpp>
#include <string_view>
#include <vector>

#include "control/control.h"
#include "http/request.h"
#include "http/response.h"
#include "store/sqlite.h"
#include "store/store.h"

namespace hearth::control {

// `seg`: the path's segments after /_hearth/api ("certs"[, id]); `body`: the
// request's JSON object ({} when empty).
// `m`: the method of the row that serves it (GET for a HEAD). Only this
// part's rows arrive: the route table answers 404 and 405 for the rest.
void ServeCerts(ControlShared* shared, store::Connection& rd,
                const std::vector<std::string_view>& seg, Method m, Response& res,
                const nlohmann::json& body);

// The served certificates follow the committed `certs` rows and the local
// CA its `meta` rows, whoever wrote them (this API, ACME, a copy applying
// another node's entries): an observer on `store` (store/observers.h)
// installs them into shared->tls (when serving HTTPS) and then calls
// shared->certs_changed. Registered before the store's first such write.
void ObserveCerts(ControlShared* shared, store::Store* store);

}  // namespace hearth::control
