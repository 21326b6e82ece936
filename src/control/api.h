#pragma once
// The control plane's part of /_hearth/api/: tokens, admins and certs. The
// caller has checked the request's token (api::RequireToken).
#include "control/control.h"
#include "http/router.h"

namespace hearth::control {

// Serves /_hearth/api/{tokens,admins,certs}[/{id}]; every other request
// goes to `next` (the sites' API). `reader`: this worker's store reader.
Handler MakeControlApiHandler(ControlShared* shared, int reader, Handler next);

}  // namespace hearth::control
