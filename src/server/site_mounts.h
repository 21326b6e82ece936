#pragma once
// The mounts every site has (sites/mount.h), made per worker by the
// composition root from the parts that serve them: the reverse proxy and
// the data API. One list, so the server and the tests that enumerate the
// mounts (tests/unit/routes_test.cpp) see the same one. Also the sites'
// front gates and proxy check, made from the parts that own them, so
// `sites` names none of them.
#include <memory>
#include <vector>

#include "data/api.h"
#include "data/app.h"
#include "guard/guard.h"
#include "proxy/forwarder.h"
#include "proxy/upstream.h"
#include "sites/mount.h"
#include "sites/sites.h"
#include "tls/acme.h"
#include "tls/server.h"

namespace hearth {

// `proxies` null: no proxy mount (`forwarder` null: it takes nothing); `apps` null: no data mount.
// `reader`: this worker's reader; the mounts share `data_options`.
std::vector<sites::SiteMount> SiteMounts(proxy::Registry* proxies, proxy::Forwarder* forwarder,
                                         data::Apps* apps,
                                         std::shared_ptr<const data::DataOptions> data_options,
                                         int reader);

// The sites' ACME gate: HTTP-01 answers from `challenges` (which outlives it).
void SetAcmeGate(sites::FrontGates* gates, const tls::AcmeChallenges* challenges);
// The HTTPS redirect: hosts `tls` has a certificate for, to `https_port`.
void SetHttpsGate(sites::FrontGates* gates, const tls::TlsServer* tls, int https_port);
// The sites' rate limits, kept by `guard` (429 past them).
void SetRateLimitGate(sites::FrontGates* gates, guard::Guard* guard);
// The gates of parts that are off: no challenge is answered (no ACME), no
// host is redirected (no HTTPS). Every gate is set, one way or the other
// (sites::GatesProblem).
void SetNoAcmeGate(sites::FrontGates* gates);
void SetNoHttpsGate(sites::FrontGates* gates);

// A site's proxy settings checked by the proxy's own parser (sites::ProxyCheck).
Result<std::string> CheckProxySettings(const nlohmann::json& settings);

}  // namespace hearth
