#pragma once
// The control API's route table, filled by every part that has routes under
// /_hearth/api/. One list, so the server and the tests that enumerate the
// routes (tests/unit/routes_test.cpp) see the same table.
#include "api/routes.h"
#include "control/control.h"
#include "data/app.h"
#include "http/h1_connection.h"
#include "sites/sites.h"

namespace hearth {

// Adds the sites', the data API's (collections) and the control plane's
// routes. Fails on a route that RouteTable::Add refuses.
Status AddApiRoutes(api::RouteTable* table, sites::SitesShared* sites, data::Apps* apps,
                    control::ControlShared* control);

// Where the body of a request under /_hearth/api/ goes, decided per request
// by the row that serves it (RouteTable::Match), not by a path prefix: a
// buffered row is read whole and capped at max-body-size even when a
// streamed row shares its first segments. A request no row serves is
// buffered like any other (read whole, capped at max-body-size) before it is
// answered 401, 403, 404 or 405.
BodyRoute ApiBodyRoute(const api::RouteTable& table, const Request& req);

}  // namespace hearth
