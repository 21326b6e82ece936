#pragma once
// The control API's route table, filled by every part that has routes under
// /_hearth/api/. One list, so the server and the tests that enumerate the
// routes (tests/unit/routes_test.cpp) see the same table.
#include "api/routes.h"
#include "control/control.h"
#include "data/app.h"
#include "sites/sites.h"

namespace hearth {

// Adds the sites', the data API's (collections) and the control plane's
// routes. Fails on a route that RouteTable::Add refuses.
Status AddApiRoutes(api::RouteTable* table, sites::SitesShared* sites, data::Apps* apps,
                    control::ControlShared* control);

}  // namespace hearth
