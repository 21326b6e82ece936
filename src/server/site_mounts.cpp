#include "server/site_mounts.h"

#include "base/clock.h"

namespace hearth {
namespace {

using api::RouteClass;

bool Reads(Method m) {
  return m == Method::kGet || m == Method::kHead || m == Method::kOptions;
}

// A proxied site (or a path prefix of it) goes to its upstreams.
sites::SiteMount ProxyMount(proxy::Registry* proxies, proxy::Forwarder* forwarder) {
  sites::SiteMount m;
  m.name = "proxy";
  m.priority = 300;
  m.prepare = [proxies](const sites::SiteInfo& site) -> std::shared_ptr<const void> {
    if (site.proxy_json.empty()) return nullptr;
    return proxies->Get(site.name, site.proxy_json);
  };
  // The path is the request's in its normal form (http/path.h): the prefix
  // test holds for the path the upstream is sent, which is the same one.
  m.takes = [forwarder](const sites::SiteInfo&, const void* state, const Request& req) {
    if (!forwarder) return false;  // this worker cannot forward
    const std::string& prefix = static_cast<const proxy::UpstreamSet*>(state)->config().path;
    std::string_view path = req.path;
    if (prefix == "/") return true;
    // At a segment boundary, as routes match: "/app" takes "/app" and "/app/x", not "/apple".
    if (path.size() < prefix.size() || path.compare(0, prefix.size(), prefix) != 0) return false;
    return prefix.back() == '/' || path.size() == prefix.size() || path[prefix.size()] == '/';
  };
  m.route_class = [](const Request& req) {
    return Reads(req.method) ? RouteClass::kRead : RouteClass::kWrite;
  };
  m.serve = [forwarder](const sites::SiteInfo&, const std::shared_ptr<const void>& state,
                        Request& req, Response& res) {
    // The registry's sets are shared and mutable; the state holds one.
    auto set = std::const_pointer_cast<proxy::UpstreamSet>(
        std::static_pointer_cast<const proxy::UpstreamSet>(state));
    forwarder->Forward(set, req, res);
  };
  m.streams_body = true;
  m.admitted = true;
  return m;
}

// The site's app API under /api/, if it has an app database; otherwise
// /api/ is files.
sites::SiteMount DataMount(data::Apps* apps, std::shared_ptr<const data::DataOptions> options,
                           int reader) {
  sites::SiteMount m;
  m.name = "data";
  m.priority = 200;
  m.takes = [apps](const sites::SiteInfo& site, const void*, const Request& req) {
    if (req.path.substr(0, 5) != "/api/" || site.no_such_preview) return false;
    auto app = apps->Get(site.name, false);
    return !app.ok() || *app;  // an app database (or one that cannot be opened: the API says so)
  };
  m.route_class = [](const Request& req) {
    // A realtime subscription concerns this process's own streams.
    if (req.path == "/api/realtime") return RouteClass::kLocal;
    return Reads(req.method) ? RouteClass::kRead : RouteClass::kWrite;
  };
  m.serve = [apps, options = std::move(options), reader](const sites::SiteInfo& site,
                                                         const std::shared_ptr<const void>&,
                                                         Request& req, Response& res) {
    // False only if the app database went away while the request waited.
    if (!data::ServeAppApi(apps, *options, reader, site.name, req, res)) res.SetError(404);
  };
  m.admitted = true;
  m.hsts = true;
  return m;
}

}  // namespace

std::vector<sites::SiteMount> SiteMounts(proxy::Registry* proxies, proxy::Forwarder* forwarder,
                                         data::Apps* apps,
                                         std::shared_ptr<const data::DataOptions> data_options,
                                         int reader) {
  std::vector<sites::SiteMount> out;
  if (proxies) out.push_back(ProxyMount(proxies, forwarder));
  if (apps) out.push_back(DataMount(apps, std::move(data_options), reader));
  return out;
}

void SetAcmeGate(sites::FrontGates* gates, const tls::AcmeChallenges* challenges) {
  gates->acme_answer = [challenges](std::string_view token) { return challenges->Get(token); };
}

void SetHttpsGate(sites::FrontGates* gates, const tls::TlsServer* tls, int https_port) {
  gates->has_certificate = [tls](std::string_view host) { return tls->Covers(host); };
  gates->https_port = https_port;
}

void SetNoAcmeGate(sites::FrontGates* gates) {
  gates->acme_answer = [](std::string_view) { return std::optional<std::string>(); };
}

void SetNoHttpsGate(sites::FrontGates* gates) {
  gates->has_certificate = [](std::string_view) { return false; };
  gates->https_port = 0;
}

void SetRateLimitGate(sites::FrontGates* gates, guard::Guard* guard) {
  gates->rate_limit = [guard](const Request& req, Response& res, const std::string& site,
                              int64_t rate, int64_t burst) {
    int64_t retry = 0;
    if (guard->TakeSiteToken(req, site, static_cast<double>(rate), static_cast<double>(burst),
                             MonoNowMillis(), &retry))
      return true;
    guard::RespondTooMany(res, retry,
                          "too many requests to this site from this address; slow down");
    return false;
  };
}

Result<std::string> CheckProxySettings(const nlohmann::json& settings) {
  auto config = proxy::ParseProxyConfig(settings);
  if (!config.ok()) return config.error();
  return proxy::ProxyConfigToJson(*config).dump();
}

}  // namespace hearth
