#pragma once
// Handlers, middleware and the router. Handlers never know the protocol:
// HTTP/1 (and later HTTP/2) build a Request and call the one root Handler.
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "http/request.h"
#include "http/response.h"

namespace hearth {

using Handler = std::function<void(Request&, Response&)>;
// A middleware does its part and calls next (or answers itself and does not).
using Middleware = std::function<void(Request&, Response&, const Handler& next)>;

// Wraps `final` in `mws`, the first one outermost.
Handler Compose(const std::vector<Middleware>& mws, Handler final);

// Routes by Host and path prefix. Host patterns: "" (any host), "example.com"
// (exact), "*.example.com" (any subdomain, not the apex). The most specific
// host wins (exact, then wildcard, then any); within it, the longest prefix.
// A prefix matches at a segment boundary: "/app" matches "/app" and "/app/x",
// not "/apple"; a prefix ending in '/' matches anything under it.
class Router {
 public:
  // `stream_body`: the handler runs as soon as a request's head arrives and
  // takes its body through Request::body_sink (see Request::body_pending).
  void Add(std::string host_pattern, std::string path_prefix, Handler handler,
           bool stream_body = false);
  // host_lower: the request's host without port, lower-case.
  const Handler* Match(std::string_view host_lower, std::string_view path) const;
  // Whether the route a request would take streams its body.
  bool StreamsBody(std::string_view host_lower, std::string_view path) const;
  // The router as a handler; no match answers 404.
  void Serve(Request& req, Response& res) const;

 private:
  struct Route {
    std::string host;  // "" any, exact, or "*.suffix"
    std::string prefix;
    Handler handler;
    int host_rank;  // 2 exact, 1 wildcard, 0 any
    bool stream_body;
  };
  const Route* MatchRoute(std::string_view host_lower, std::string_view path) const;
  std::vector<Route> routes_;
};

}  // namespace hearth
