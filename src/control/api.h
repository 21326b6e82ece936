#pragma once
// The control plane's part of /_hearth/api/: tokens, admins and certs,
// registered into the control API's route table (api/routes.h).
#include "api/routes.h"
#include "control/control.h"

namespace hearth::control {

Status AddApiRoutes(api::RouteTable* table, ControlShared* shared);

}  // namespace hearth::control
