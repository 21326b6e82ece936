#pragma once
// Dispatch: the one entry every protocol calls once it has a Request. It runs
// the root handler (middleware, then the router) and turns a handler's
// exception into a 500, so no protocol layer needs to know about handlers.
#include "http/request.h"
#include "http/response.h"
#include "http/router.h"

namespace hearth {

void Dispatch(const Handler& root, Request& req, Response& res);

}  // namespace hearth
