#include "proxy/upstream.h"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>
#include <random>

#include "base/clock.h"
#include "base/log.h"
#include "base/strings.h"
#include "http/h1_parser.h"

namespace hearth::proxy {
using json = nlohmann::json;

std::string_view PolicyName(Policy p) {
  switch (p) {
    case Policy::kRoundRobin:
      return "round_robin";
    case Policy::kLeastConn:
      return "least_conn";
    case Policy::kIpHash:
      return "ip_hash";
    case Policy::kRandomTwo:
      return "random_two";
  }
  return "round_robin";
}

Result<std::pair<std::string, int>> ParseUpstreamUrl(std::string_view url) {
  std::string_view rest = url;
  if (rest.substr(0, 7) == "http://") {
    rest.remove_prefix(7);
  } else if (rest.find("://") != std::string_view::npos) {
    return Error{"upstream " + std::string(url) + ": only http:// upstreams are supported"};
  }
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  if (rest.empty() || rest.find('/') != std::string_view::npos ||
      rest.find('?') != std::string_view::npos)
    return Error{"upstream " + std::string(url) + ": expected http://host:port (no path)"};
  std::string host;
  std::string_view port_text;
  if (rest[0] == '[') {
    size_t close = rest.find(']');
    if (close == std::string_view::npos)
      return Error{"upstream " + std::string(url) + ": unclosed ["};
    host = std::string(rest.substr(1, close - 1));
    if (close + 1 < rest.size()) {
      if (rest[close + 1] != ':')
        return Error{"upstream " + std::string(url) + ": expected :port after ]"};
      port_text = rest.substr(close + 2);
    }
  } else {
    size_t colon = rest.rfind(':');
    host = std::string(rest.substr(0, colon));
    if (colon != std::string_view::npos) port_text = rest.substr(colon + 1);
  }
  if (host.empty() || !IsValidHostText(host))
    return Error{"upstream " + std::string(url) + ": invalid host"};
  int port = 80;
  if (!port_text.empty() || rest.back() == ':') {
    uint64_t p;
    if (!ParseUint(port_text, &p) || p == 0 || p > 65535)
      return Error{"upstream " + std::string(url) + ": invalid port"};
    port = static_cast<int>(p);
  }
  return std::pair<std::string, int>{host, port};
}

namespace {

Result<int64_t> Millis(const json& v, const char* key, int64_t min, int64_t max) {
  if (!v.is_number_integer())
    return Error{std::string(key) + " must be a whole number of milliseconds"};
  int64_t n = v.get<int64_t>();
  if (n < min || n > max)
    return Error{std::string(key) + " must be between " + std::to_string(min) + " and " +
                 std::to_string(max)};
  return n;
}

Result<int> Count(const json& v, const char* key, int min, int max) {
  if (!v.is_number_integer()) return Error{std::string(key) + " must be a whole number"};
  int64_t n = v.get<int64_t>();
  if (n < min || n > max)
    return Error{std::string(key) + " must be between " + std::to_string(min) + " and " +
                 std::to_string(max)};
  return static_cast<int>(n);
}

}  // namespace

Result<ProxyConfig> ParseProxyConfig(const json& j) {
  if (!j.is_object()) return Error{"proxy must be an object"};
  ProxyConfig c;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& k = it.key();
    const json& v = it.value();
    if (k == "upstreams") {
      if (!v.is_array() || v.empty() || v.size() > 64)
        return Error{"upstreams must be a list of 1 to 64 http://host:port URLs"};
      for (const auto& u : v) {
        if (!u.is_string()) return Error{"upstreams must be a list of http://host:port URLs"};
        auto parsed = ParseUpstreamUrl(u.get<std::string>());
        if (!parsed.ok()) return parsed.error();
        c.upstreams.push_back(u.get<std::string>());
      }
    } else if (k == "policy") {
      std::string p = v.is_string() ? v.get<std::string>() : "";
      if (p == "round_robin")
        c.policy = Policy::kRoundRobin;
      else if (p == "least_conn")
        c.policy = Policy::kLeastConn;
      else if (p == "ip_hash")
        c.policy = Policy::kIpHash;
      else if (p == "random_two")
        c.policy = Policy::kRandomTwo;
      else
        return Error{"policy must be round_robin, least_conn, ip_hash or random_two"};
    } else if (k == "path") {
      if (!v.is_string() || v.get<std::string>().empty() || v.get<std::string>()[0] != '/' ||
          v.get<std::string>().size() > 1024)
        return Error{"path must be a path prefix starting with /"};
      c.path = v.get<std::string>();
    } else if (k == "health_path") {
      if (!v.is_string() || (!v.get<std::string>().empty() && v.get<std::string>()[0] != '/') ||
          v.get<std::string>().size() > 1024 ||
          v.get<std::string>().find_first_of(" \r\n") != std::string::npos)
        return Error{"health_path must be a path starting with / (or empty for no checks)"};
      c.health_path = v.get<std::string>();
    } else if (k == "health_interval_ms") {
      auto n = Millis(v, "health_interval_ms", 100, 3600000);
      if (!n.ok()) return n.error();
      c.health_interval_ms = *n;
    } else if (k == "health_timeout_ms") {
      auto n = Millis(v, "health_timeout_ms", 10, 60000);
      if (!n.ok()) return n.error();
      c.health_timeout_ms = *n;
    } else if (k == "health_fails") {
      auto n = Count(v, "health_fails", 1, 100);
      if (!n.ok()) return n.error();
      c.health_fails = *n;
    } else if (k == "health_passes") {
      auto n = Count(v, "health_passes", 1, 100);
      if (!n.ok()) return n.error();
      c.health_passes = *n;
    } else if (k == "max_fails") {
      auto n = Count(v, "max_fails", 0, 1000);
      if (!n.ok()) return n.error();
      c.max_fails = *n;
    } else if (k == "fail_timeout_ms") {
      auto n = Millis(v, "fail_timeout_ms", 100, 3600000);
      if (!n.ok()) return n.error();
      c.fail_timeout_ms = *n;
    } else if (k == "connect_timeout_ms") {
      auto n = Millis(v, "connect_timeout_ms", 10, 600000);
      if (!n.ok()) return n.error();
      c.connect_timeout_ms = *n;
    } else if (k == "first_byte_timeout_ms") {
      auto n = Millis(v, "first_byte_timeout_ms", 10, 3600000);
      if (!n.ok()) return n.error();
      c.first_byte_timeout_ms = *n;
    } else if (k == "idle_timeout_ms") {
      auto n = Millis(v, "idle_timeout_ms", 10, 86400000);
      if (!n.ok()) return n.error();
      c.idle_timeout_ms = *n;
    } else {
      return Error{"unknown proxy setting \"" + k + "\""};
    }
  }
  if (c.upstreams.empty()) return Error{"upstreams: give at least one http://host:port"};
  return c;
}

json ProxyConfigToJson(const ProxyConfig& c) {
  return {{"upstreams", c.upstreams},
          {"policy", std::string(PolicyName(c.policy))},
          {"path", c.path},
          {"health_path", c.health_path},
          {"health_interval_ms", c.health_interval_ms},
          {"health_timeout_ms", c.health_timeout_ms},
          {"health_fails", c.health_fails},
          {"health_passes", c.health_passes},
          {"max_fails", c.max_fails},
          {"fail_timeout_ms", c.fail_timeout_ms},
          {"connect_timeout_ms", c.connect_timeout_ms},
          {"first_byte_timeout_ms", c.first_byte_timeout_ms},
          {"idle_timeout_ms", c.idle_timeout_ms}};
}

namespace {

bool Resolve(const std::string& host, int port, SocketAddress* out) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* res = nullptr;
  std::string port_text = std::to_string(port);
  if (getaddrinfo(host.c_str(), port_text.c_str(), &hints, &res) != 0 || !res) return false;
  memcpy(&out->storage, res->ai_addr, res->ai_addrlen);
  out->len = static_cast<socklen_t>(res->ai_addrlen);
  freeaddrinfo(res);
  return true;
}

uint64_t HashIp(std::string_view ip) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a: stable across restarts and workers
  for (unsigned char c : ip) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

thread_local std::minstd_rand tl_random{std::random_device{}()};

}  // namespace

UpstreamSet::UpstreamSet(ProxyConfig config) : config_(std::move(config)) {
  for (const auto& url : config_.upstreams) {
    auto u = std::make_unique<Upstream>();
    u->url = url;
    auto hp = ParseUpstreamUrl(url);
    if (hp.ok()) {
      u->host = hp->first;
      u->port = hp->second;
      u->resolved = Resolve(u->host, u->port, &u->addr);
      if (!u->resolved)
        Log(LogLevel::kWarn, "proxy: upstream name does not resolve", {{"upstream", url}});
    }
    upstreams_.push_back(std::move(u));
  }
}

int UpstreamSet::Pick(std::string_view client_ip, uint64_t tried, int64_t now_ms) {
  const int n = static_cast<int>(upstreams_.size());
  auto usable = [&](int i) {
    return i < 64 && !(tried & (1ull << i)) && upstreams_[i]->Available(now_ms);
  };
  switch (config_.policy) {
    case Policy::kRoundRobin: {
      uint64_t start = next_.fetch_add(1, std::memory_order_relaxed);
      for (int k = 0; k < n; ++k) {
        int i = static_cast<int>((start + k) % n);
        if (usable(i)) return i;
      }
      return -1;
    }
    case Policy::kIpHash: {
      // The same client lands on the same upstream while it is up; when it is
      // not, the next ones in order take over (and give it back when it returns).
      uint64_t start = HashIp(client_ip) % static_cast<uint64_t>(n);
      for (int k = 0; k < n; ++k) {
        int i = static_cast<int>((start + k) % n);
        if (usable(i)) return i;
      }
      return -1;
    }
    case Policy::kLeastConn: {
      // Ties go round robin, so an idle set still spreads its load.
      uint64_t start = next_.fetch_add(1, std::memory_order_relaxed);
      int best = -1, best_active = 0;
      for (int k = 0; k < n; ++k) {
        int i = static_cast<int>((start + k) % n);
        if (!usable(i)) continue;
        int a = upstreams_[i]->active.load(std::memory_order_relaxed);
        if (best < 0 || a < best_active) {
          best = i;
          best_active = a;
        }
      }
      return best;
    }
    case Policy::kRandomTwo: {
      // Power of two random choices: nearly least-connections' balance
      // without every worker herding onto the same "least" upstream.
      int candidates[64];
      int m = 0;
      for (int i = 0; i < n; ++i)
        if (usable(i)) candidates[m++] = i;
      if (m == 0) return -1;
      if (m == 1) return candidates[0];
      int a = candidates[tl_random() % m];
      int b = candidates[tl_random() % m];
      if (a == b) b = candidates[(std::find(candidates, candidates + m, a) - candidates + 1) % m];
      return upstreams_[b]->active.load(std::memory_order_relaxed) <
                     upstreams_[a]->active.load(std::memory_order_relaxed)
                 ? b
                 : a;
    }
  }
  return -1;
}

void UpstreamSet::Succeeded(Upstream& u) {
  if (u.fails.load(std::memory_order_relaxed) != 0) u.fails.store(0, std::memory_order_relaxed);
}

void UpstreamSet::Failed(Upstream& u, int64_t now_ms) {
  int f = u.fails.fetch_add(1, std::memory_order_relaxed) + 1;
  if (config_.max_fails > 0 && f >= config_.max_fails) {
    u.fails.store(0, std::memory_order_relaxed);
    u.down_until.store(now_ms + config_.fail_timeout_ms, std::memory_order_relaxed);
    Log(LogLevel::kWarn, "proxy: upstream failing, taken out for a while",
        {{"upstream", u.url}, {"failures", f}, {"ms", config_.fail_timeout_ms}});
  }
}

Registry::~Registry() {
  closing_.store(true);
  uint64_t job;
  {
    std::lock_guard<std::mutex> lock(mu_);
    job = health_job_;
  }
  if (job) jobs_->Cancel(job);
}

std::shared_ptr<UpstreamSet> Registry::Get(const std::string& site,
                                           const std::string& config_json) {
  std::string key = site + "\n" + config_json;
  {
    std::lock_guard<std::mutex> lock(mu_);
    int64_t now = MonoNowMillis();
    if (now - last_prune_ms_ > 60000) {
      last_prune_ms_ = now;
      for (auto it = sets_.begin(); it != sets_.end();) {
        if (now - it->second.last_get_ms > kLingerMs && it->second.set.use_count() == 1)
          it = sets_.erase(it);
        else
          ++it;
      }
    }
    auto it = sets_.find(key);
    if (it != sets_.end()) {
      it->second.last_get_ms = now;
      return it->second.set;
    }
  }
  json j = json::parse(config_json, nullptr, false);
  auto config = ParseProxyConfig(j);
  if (!config.ok()) {
    Log(LogLevel::kError, "proxy: stored configuration is invalid",
        {{"site", site}, {"error", config.error().message}});
    return nullptr;
  }
  auto set =
      std::make_shared<UpstreamSet>(std::move(config).value());  // resolves: outside the lock
  std::lock_guard<std::mutex> lock(mu_);
  Entry& slot = sets_[key];
  slot.last_get_ms = MonoNowMillis();
  if (slot.set) return slot.set;  // another worker was first
  slot.set = set;
  if (!set->config().health_path.empty() && health_job_ == 0 && jobs_)
    health_job_ = jobs_->Every("proxy-health", 100, [this] { CheckHealth(); });
  return set;
}

// One run of the "proxy-health" job (every 100 ms): checks the upstreams of
// every set still in use whose own interval has passed. Blocking, one at a
// time: a few upstreams per site, checks of a few ms.
void Registry::CheckHealth() {
  {
    std::vector<std::shared_ptr<UpstreamSet>> sets;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (auto& [key, entry] : sets_)
        if (!entry.set->config().health_path.empty()) sets.push_back(entry.set);
    }
    for (auto& set : sets) {
      const ProxyConfig& c = set->config();
      for (size_t i = 0; i < set->size(); ++i) {
        Upstream& u = set->at(i);
        int64_t now = MonoNowMillis();
        if (now < u.next_check_ms) continue;
        u.next_check_ms = now + c.health_interval_ms;
        bool ok = u.resolved && CheckUpstream(u, c.health_path, c.health_timeout_ms, [this] {
                    return closing_.load() || jobs_->stopping();
                  });
        if (ok) {
          u.check_fails = 0;
          if (++u.check_passes >= c.health_passes && !u.healthy.load()) {
            u.healthy.store(true);
            u.down_until.store(0);
            Log(LogLevel::kInfo, "proxy: upstream healthy again", {{"upstream", u.url}});
          }
        } else {
          u.check_passes = 0;
          if (++u.check_fails >= c.health_fails && u.healthy.load()) {
            u.healthy.store(false);
            Log(LogLevel::kWarn, "proxy: upstream failed its health checks",
                {{"upstream", u.url}, {"path", c.health_path}});
          }
        }
        if (closing_.load() || jobs_->stopping()) return;
      }
    }
  }
}

bool CheckUpstream(const Upstream& u, const std::string& path, int64_t timeout_ms,
                   const std::function<bool()>& give_up) {
  int fd = socket(u.addr.storage.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  int64_t deadline = MonoNowMillis() + timeout_ms;
  // Waits in slices of at most 100 ms so a stopping server is not held for
  // the whole health timeout (up to 60 s) by an upstream that never answers.
  auto wait = [&](short events) {
    while (true) {
      int64_t left = deadline - MonoNowMillis();
      if (left <= 0 || (give_up && give_up())) return false;
      pollfd p{fd, events, 0};
      int r = poll(&p, 1, static_cast<int>(std::min<int64_t>(left, 100)));
      if (r == 0) continue;
      if (r > 0) return true;
      if (r < 0 && errno == EINTR) continue;
      return false;
    }
  };
  bool ok = false;
  do {
    if (connect(fd, reinterpret_cast<const sockaddr*>(&u.addr.storage), u.addr.len) != 0) {
      if (errno != EINPROGRESS || !wait(POLLOUT)) break;
      int err = 0;
      socklen_t len = sizeof err;
      if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) break;
    }
    std::string host = u.host.find(':') != std::string::npos ? "[" + u.host + "]" : u.host;
    std::string req = "GET " + path + " HTTP/1.1\r\nHost: " + host + ":" + std::to_string(u.port) +
                      "\r\nUser-Agent: hearth-health-check\r\nConnection: close\r\n\r\n";
    size_t sent = 0;
    while (sent < req.size()) {
      ssize_t w = send(fd, req.data() + sent, req.size() - sent, MSG_NOSIGNAL);
      if (w > 0)
        sent += static_cast<size_t>(w);
      else if (w < 0 && errno == EAGAIN && wait(POLLOUT))
        continue;
      else
        break;
    }
    if (sent < req.size()) break;
    char buf[64];
    size_t got = 0;
    while (got < 12) {
      ssize_t r = recv(fd, buf + got, sizeof buf - got, 0);
      if (r > 0)
        got += static_cast<size_t>(r);
      else if (r < 0 && errno == EAGAIN && wait(POLLIN))
        continue;
      else
        break;
    }
    // "HTTP/1.1 200": 2xx and 3xx are healthy.
    ok = got >= 12 && memcmp(buf, "HTTP/1.", 7) == 0 && (buf[9] == '2' || buf[9] == '3');
  } while (false);
  close(fd);
  return ok;
}

}  // namespace hearth::proxy
