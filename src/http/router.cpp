#include "http/router.h"

#include <memory>

namespace hearth {

Handler Compose(const std::vector<Middleware>& mws, Handler final) {
  Handler h = std::move(final);
  for (auto it = mws.rbegin(); it != mws.rend(); ++it) {
    Middleware mw = *it;
    h = [mw, next = std::move(h)](Request& req, Response& res) { mw(req, res, next); };
  }
  return h;
}

void Router::Add(std::string host_pattern, std::string path_prefix, Handler handler,
                 bool stream_body) {
  for (auto& c : host_pattern) c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
  int rank = host_pattern.empty() ? 0 : (host_pattern.rfind("*.", 0) == 0 ? 1 : 2);
  routes_.push_back(
      {std::move(host_pattern), std::move(path_prefix), std::move(handler), rank, stream_body});
}

namespace {
bool HostMatches(const std::string& pattern, int rank, std::string_view host) {
  if (rank == 0) return true;
  if (rank == 2) return host == pattern;
  std::string_view suffix = std::string_view(pattern).substr(1);  // ".example.com"
  return host.size() > suffix.size() && host.substr(host.size() - suffix.size()) == suffix;
}
bool PrefixMatches(const std::string& prefix, std::string_view path) {
  if (path.substr(0, prefix.size()) != prefix) return false;
  if (prefix.empty() || prefix.back() == '/' || path.size() == prefix.size()) return true;
  return path[prefix.size()] == '/';
}
}  // namespace

const Router::Route* Router::MatchRoute(std::string_view host, std::string_view path) const {
  const Route* best = nullptr;
  for (const auto& r : routes_) {
    if (!HostMatches(r.host, r.host_rank, host) || !PrefixMatches(r.prefix, path)) continue;
    if (!best || r.host_rank > best->host_rank ||
        (r.host_rank == best->host_rank && r.prefix.size() > best->prefix.size()))
      best = &r;
  }
  return best;
}

const Handler* Router::Match(std::string_view host, std::string_view path) const {
  const Route* r = MatchRoute(host, path);
  return r ? &r->handler : nullptr;
}

bool Router::StreamsBody(std::string_view host, std::string_view path) const {
  const Route* r = MatchRoute(host, path);
  return r && r->stream_body;
}

void Router::Serve(Request& req, Response& res) const {
  const Handler* h = Match(req.HostName(), req.path);
  if (!h) {
    res.SetError(404);
    return;
  }
  (*h)(req, res);
}

}  // namespace hearth
