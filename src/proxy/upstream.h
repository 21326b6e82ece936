#pragma once
// Upstreams: where a proxied site's requests go, how one is picked, and what
// is known of each one's health. One UpstreamSet per site configuration is
// shared by every worker (its counters are atomics); each worker keeps its own
// connections to them (forwarder.h).
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "base/result.h"
#include "base/scheduler.h"
#include "io/socket.h"

namespace hearth::proxy {

enum class Policy { kRoundRobin, kLeastConn, kIpHash, kRandomTwo };
std::string_view PolicyName(Policy p);

// A site's proxy settings, as stored (JSON) in the site's row.
struct ProxyConfig {
  std::vector<std::string> upstreams;  // "http://host:port", in the order given
  Policy policy = Policy::kRoundRobin;
  // Only paths under this prefix go upstream; the rest are the site's own
  // files. "/" (the default) forwards everything.
  std::string path = "/";
  // Active checks: GET `health_path` on every upstream each interval; none
  // when empty. An upstream is down after `health_fails` failures in a row
  // and up again after `health_passes` successes in a row.
  std::string health_path;
  int64_t health_interval_ms = 5000;
  int64_t health_timeout_ms = 2000;
  int health_fails = 2;
  int health_passes = 2;
  // Passive: `max_fails` failed attempts in a row (refused, reset, timed
  // out) take an upstream out for `fail_timeout_ms`.
  int max_fails = 3;
  int64_t fail_timeout_ms = 10000;
  int64_t connect_timeout_ms = 5000;
  int64_t first_byte_timeout_ms = 60000;  // request sent -> response head
  int64_t idle_timeout_ms = 300000;       // no byte either way (an event stream's quiet)
};

// Reads {"upstreams": [...], "policy": "...", "path": "/app/", "health": {...},
// ...}; unknown keys and bad values are errors naming the key.
Result<ProxyConfig> ParseProxyConfig(const nlohmann::json& j);
nlohmann::json ProxyConfigToJson(const ProxyConfig& c);
// "http://127.0.0.1:3000" -> host "127.0.0.1", port 3000 (an http URL with an
// explicit or default port, no path).
Result<std::pair<std::string, int>> ParseUpstreamUrl(std::string_view url);

struct Upstream {
  std::string url;
  std::string host;  // as given (the health check's Host)
  int port = 0;
  SocketAddress addr;
  bool resolved = false;               // false: the name did not resolve; always down
  std::atomic<int> active{0};          // requests in flight, all workers
  std::atomic<bool> healthy{true};     // the active checks' verdict
  std::atomic<int> fails{0};           // failed attempts in a row
  std::atomic<int64_t> down_until{0};  // passive ejection, monotonic ms
  // The health thread's own counters.
  int check_fails = 0;
  int check_passes = 0;
  int64_t next_check_ms = 0;

  bool Available(int64_t now_ms) const {
    return resolved && healthy.load(std::memory_order_relaxed) &&
           down_until.load(std::memory_order_relaxed) <= now_ms;
  }
};

class UpstreamSet {
 public:
  // Resolves the upstreams' names (blocking: done once per configuration).
  explicit UpstreamSet(ProxyConfig config);
  const ProxyConfig& config() const { return config_; }
  size_t size() const { return upstreams_.size(); }
  Upstream& at(size_t i) { return *upstreams_[i]; }

  // Picks an available upstream by the policy, skipping those whose bit is
  // set in `tried`. -1 when none is available.
  int Pick(std::string_view client_ip, uint64_t tried, int64_t now_ms);
  // An attempt's outcome (passive health): a success clears the failures; a
  // failure counts, and enough in a row eject the upstream for a while.
  void Succeeded(Upstream& u);
  void Failed(Upstream& u, int64_t now_ms);

 private:
  ProxyConfig config_;
  std::vector<std::unique_ptr<Upstream>> upstreams_;
  std::atomic<uint64_t> next_{0};
};

// Every worker asks here for a site's set, so all of them share one (and its
// health). A job on `jobs` ("proxy-health", added with the first set that
// has a health_path) runs the active health checks of sets still in use.
class Registry {
 public:
  explicit Registry(Scheduler* jobs) : jobs_(jobs) {}
  ~Registry();  // cancels the job (waiting for a check in progress)
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;
  // The set for this site and configuration (its JSON text), made on first use.
  std::shared_ptr<UpstreamSet> Get(const std::string& site, const std::string& config_json);

 private:
  void CheckHealth();
  Scheduler* jobs_;
  uint64_t health_job_ = 0;  // guarded by mu_; 0: not added yet
  // Set first by the destructor: a check in flight gives up instead of
  // holding the Cancel that waits for it.
  std::atomic<bool> closing_{false};
  std::mutex mu_;
  // site + '\n' + config -> its set. Held (not weak) so that what the health
  // checks learned, and the resolved names, survive the workers dropping
  // their routes on every site change; dropped after kLingerMs unasked.
  struct Entry {
    std::shared_ptr<UpstreamSet> set;
    int64_t last_get_ms = 0;
  };
  static constexpr int64_t kLingerMs = 10 * 60 * 1000;
  std::unordered_map<std::string, Entry> sets_;
  int64_t last_prune_ms_ = 0;
};

// One health check: GET `path` with a timeout; true for a 2xx or 3xx answer.
// give_up (optional) is asked while waiting; true abandons the check as failed.
bool CheckUpstream(const Upstream& u, const std::string& path, int64_t timeout_ms,
                   const std::function<bool()>& give_up = {});

}  // namespace hearth::proxy
