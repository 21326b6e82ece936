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

namespace hearth::control {

// `seg`: the path's segments after /_hearth/api ("certs"[, id]); `body`: the
// request's JSON object ({} when empty).
// `m`: the method of the row that serves it (GET for a HEAD). Only this
// part's rows arrive: the route table answers 404 and 405 for the rest.
void ServeCerts(ControlShared* shared, store::Connection& rd,
                const std::vector<std::string_view>& seg, Method m, Response& res,
                const nlohmann::json& body);

}  // namespace hearth::control
