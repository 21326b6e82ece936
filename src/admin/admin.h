#pragma once
// The admin console under /_hearth/ (server-rendered pages; see
// docs/admin.md). Every page but the login asks for a session (a cookie,
// see session.h); every form posts the session's CSRF token, and a post
// without it is refused (403). The pages read and change things through the
// control API's own handler, called in-process (loopback.h), so they apply
// exactly the API's validation.
#include "admin/backup_facts.h"
#include "admin/stats.h"
#include "data/app.h"
#include "http/router.h"
#include "sites/sites.h"
#include "store/store.h"

namespace hearth::admin {

// Adds the console's routes: /_hearth/ (the router sends /_hearth/api/,
// health and metrics elsewhere), and /_hearth/upload/, which takes its body
// as it arrives. `reader`: this worker's reader index. `api`: the control
// API's handler (every part's routes, no token check: the console's session
// stands for it), which the pages call in-process. `stats`: the traffic
// the overview draws (null: none); it outlives the routes. `admin_host`: the
// only host name the console answers on (any case; "" for any host no site
// claims).
// `apps`: the sites' app databases, whose data pages the console draws.
// `backup`: the streaming backup's figures for the overview (null: off).
void AddAdminRoutes(Router* router, sites::SitesShared* shared, data::Apps* apps, int reader,
                    Handler api, const TrafficStats* stats = nullptr, std::string admin_host = "",
                    BackupFactsSource backup = nullptr);

}  // namespace hearth::admin
