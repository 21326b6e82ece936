#pragma once
// The mounts every site has (sites/mount.h), made per worker by the
// composition root from the parts that serve them: the reverse proxy and
// the data API. One list, so the server and the tests that enumerate the
// mounts (tests/unit/routes_test.cpp) see the same one.
#include <vector>

#include "data/api.h"
#include "data/app.h"
#include "proxy/forwarder.h"
#include "proxy/upstream.h"
#include "sites/mount.h"

namespace hearth {

// `proxies` null: no proxy mount (`forwarder` null: it takes nothing); `apps` null: no data mount.
// `reader`: this worker's reader; `data_options` outlives the mounts.
std::vector<sites::SiteMount> SiteMounts(proxy::Registry* proxies, proxy::Forwarder* forwarder,
                                         data::Apps* apps, const data::DataOptions* data_options,
                                         int reader);

}  // namespace hearth
