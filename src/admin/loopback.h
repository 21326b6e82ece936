#pragma once
// Calls a handler in-process with a request made here: the admin console's
// pages use the control API this way, with no socket and no token (the page
// has checked its session already). The API may answer at once or defer
// (writes go through the store's writer); either way `then` gets the status
// and the JSON body, and fills the page's response.
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "http/router.h"

namespace hearth::admin {

using ApiThen = std::function<void(int status, const nlohmann::json& body, Response& page)>;

// `page` is the response being answered: deferred when the API defers (then
// `then` runs later on the connection's thread). `body`: JSON for POST and
// PATCH ("" for none).
void CallApi(const Handler& api, Method method, const std::string& path, const std::string& body, Response& page,
             ApiThen then);

}  // namespace hearth::admin
