#pragma once
// A site's mounts: what serves a request for a site once the front gates
// (the ACME challenge, the site's rate limit, the HTTPS redirect) let it
// through. Parts register mounts (the proxy, the data API under /api/; later
// scripts and objects); the first one, by priority, that takes a request
// serves it, and the site's own files serve whatever none takes. The site
// handler names no part: it walks this table.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "api/routes.h"
#include "http/request.h"
#include "http/response.h"
#include "http/router.h"

namespace hearth::sites {

// What a mount sees of the site a request is for.
struct SiteInfo {
  int64_t id = 0;
  std::string name;        // the site's name (its app database's)
  std::string proxy_json;  // the site's proxy settings ("": none)
  bool no_such_preview = false;
};

struct SiteMount {
  std::string name;  // "proxy", "data": for logs and tests
  int priority = 0;  // higher is asked first
  // Per-site state made when a host's routing is cached, kept with it until
  // the routing changes (may be empty: no state). Null state: this mount
  // never takes the site's requests.
  std::function<std::shared_ptr<const void>(const SiteInfo&)> prepare;
  // Whether this mount takes `req` (cheap: asked on every request).
  std::function<bool(const SiteInfo&, const void* state, const Request& req)> takes;
  // The class of a request it takes: per method, or decided per request
  // (a data API GET reads, a realtime subscription is local).
  std::function<api::RouteClass(const Request& req)> route_class;
  // Serves a request it took (may Defer()).
  std::function<void(const SiteInfo&, const std::shared_ptr<const void>& state, Request&,
                     Response&)>
      serve;
  bool streams_body = false;  // its requests' bodies stream through (any size)
  bool admitted = false;      // expensive: waits its turn (the guard's admission)
  bool hsts = false;          // a site's HSTS header goes on its answers
};

// Why `mount` cannot be mounted ("" if it can): no class, no test, no server.
std::string MountProblem(const SiteMount& mount);

}  // namespace hearth::sites
