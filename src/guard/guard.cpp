#include "guard/guard.h"

#include <cmath>
#include <functional>
#include <vector>

#include "base/clock.h"
#include "base/log.h"
#include "base/strings.h"
#include "http/response.h"

namespace hearth::guard {

const char* ReasonName(Reason r) {
  switch (r) {
    case Reason::kDenied:
      return "denied";
    case Reason::kNotAllowed:
      return "not_allowed";
    case Reason::kPerIpConnections:
      return "per_ip_connections";
    case Reason::kRateLimit:
      return "rate_limit";
    case Reason::kSiteRateLimit:
      return "site_rate_limit";
    case Reason::kSlowBody:
      return "slow_body";
    case Reason::kIdleClosed:
      return "idle_closed_for_room";
    case Reason::kAdmission:
      return "admission";
    case Reason::kCount:
      break;
  }
  return "other";
}

namespace {
size_t ShardOf(std::string_view key, int shards) {
  return std::hash<std::string_view>{}(key) % shards;
}
}  // namespace

bool RateLimiter::Take(std::string_view key, double rate, double burst, int64_t now_ms,
                       int64_t* retry_after_s) {
  if (burst < 1) burst = 1;
  Shard& sh = shards_[ShardOf(key, kShards)];
  std::lock_guard<std::mutex> lock(sh.mu);
  auto it = sh.buckets.find(
      std::string(key));  // C++20 heterogeneous lookup needs a custom hash; keys are short
  if (it == sh.buckets.end()) {
    if (sh.buckets.size() >= kMaxPerShard) {
      // Forget clients quiet for 10 s (any bucket has refilled by then at the
      // rates that matter); if that is not enough, the least recently seen half.
      int64_t oldest = now_ms;
      for (auto b = sh.buckets.begin(); b != sh.buckets.end();) {
        if (now_ms - b->second.at_ms >= 10000) {
          b = sh.buckets.erase(b);
        } else {
          oldest = std::min(oldest, b->second.at_ms);
          ++b;
        }
      }
      if (sh.buckets.size() >= kMaxPerShard) {
        int64_t cut = oldest + (now_ms - oldest) / 2;
        for (auto b = sh.buckets.begin(); b != sh.buckets.end();)
          b = b->second.at_ms <= cut ? sh.buckets.erase(b) : std::next(b);
      }
    }
    it = sh.buckets.emplace(std::string(key), Bucket{burst, now_ms}).first;
  }
  Bucket& b = it->second;
  b.tokens = std::min(burst, b.tokens + (now_ms - b.at_ms) * rate / 1000.0);
  b.at_ms = now_ms;
  if (b.tokens >= 1) {
    b.tokens -= 1;
    return true;
  }
  double wait_s = (1 - b.tokens) / rate;
  *retry_after_s = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(wait_s)));
  return false;
}

size_t RateLimiter::size() const {
  size_t n = 0;
  for (const Shard& sh : shards_) {
    std::lock_guard<std::mutex> lock(sh.mu);
    n += sh.buckets.size();
  }
  return n;
}

bool ConnectionTable::Acquire(std::string_view ip, int64_t max) {
  Shard& sh = shards_[ShardOf(ip, kShards)];
  std::lock_guard<std::mutex> lock(sh.mu);
  int64_t& n = sh.open[std::string(ip)];
  if (n >= max) {
    if (n == 0) sh.open.erase(std::string(ip));
    return false;
  }
  ++n;
  return true;
}

void ConnectionTable::Release(std::string_view ip) {
  Shard& sh = shards_[ShardOf(ip, kShards)];
  std::lock_guard<std::mutex> lock(sh.mu);
  auto it = sh.open.find(std::string(ip));
  if (it == sh.open.end()) return;
  if (--it->second <= 0) sh.open.erase(it);
}

int64_t ConnectionTable::Count(std::string_view ip) const {
  const Shard& sh = shards_[ShardOf(ip, kShards)];
  std::lock_guard<std::mutex> lock(sh.mu);
  auto it = sh.open.find(std::string(ip));
  return it == sh.open.end() ? 0 : it->second;
}

namespace {
std::atomic<uint64_t> next_guard_id{1};
}  // namespace

Guard::Guard() : policy_(std::make_shared<Policy>()), id_(next_guard_id.fetch_add(1)) {}

void Guard::SetPolicy(Policy p) {
  auto next = std::make_shared<const Policy>(std::move(p));
  std::lock_guard<std::mutex> lock(mu_);
  policy_ = std::move(next);
  generation_.fetch_add(1);
}

const Policy& Guard::policy() const {
  // Per thread: the policy it last saw and that policy's generation. A
  // worker pays one atomic load per check; the lock only after a change.
  // (Keyed by an id, not the address: a new Guard may reuse a freed one's.)
  thread_local uint64_t owner = 0;
  thread_local uint64_t seen = 0;
  thread_local std::shared_ptr<const Policy> cached;
  uint64_t gen = generation_.load(std::memory_order_acquire);
  if (owner != id_ || seen != gen) {
    std::lock_guard<std::mutex> lock(mu_);
    cached = policy_;
    seen = generation_.load(std::memory_order_relaxed);
    owner = id_;
  }
  return *cached;
}

bool Guard::Admit(std::string_view peer_ip, bool* counted) {
  *counted = false;
  const Policy& p = policy();
  if (!p.deny.empty() && p.deny.Contains(peer_ip)) {
    Count(Reason::kDenied, peer_ip);
    return false;
  }
  if (!p.allow.empty() && !p.allow.Contains(peer_ip) && !p.trusted.Contains(peer_ip)) {
    Count(Reason::kNotAllowed, peer_ip);
    return false;
  }
  // A trusted proxy carries many clients: it is not capped as one.
  if (p.max_conns_per_ip > 0 && !p.trusted.Contains(peer_ip)) {
    if (!conns_.Acquire(ClientKey(peer_ip), p.max_conns_per_ip)) {
      Count(Reason::kPerIpConnections, peer_ip);
      return false;
    }
    *counted = true;
  }
  return true;
}

void Guard::ResolveClient(Request& req) const {
  const Policy& p = policy();
  if (p.trusted.empty() || !p.trusted.Contains(req.peer_ip)) return;
  // The addresses the proxies recorded, oldest first, from every line of the
  // one field the operator's proxies write (a client may send the other).
  std::vector<std::string_view> chain;
  bool forwarded = p.forwarded_header;
  for (const auto& h : req.headers) {
    if (!EqualsIgnoreCase(h.name, forwarded ? "forwarded" : "x-forwarded-for")) continue;
    std::string_view rest = h.value;
    while (!rest.empty()) {
      size_t comma = rest.find(',');
      std::string_view item = TrimOws(rest.substr(0, comma));
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
      if (forwarded) {
        // for=1.2.3.4;proto=https or for="[2001:db8::1]:443" (RFC 7239).
        std::string_view v;
        while (!item.empty()) {
          size_t semi = item.find(';');
          std::string_view pair = TrimOws(item.substr(0, semi));
          item = semi == std::string_view::npos ? std::string_view() : item.substr(semi + 1);
          if (pair.size() > 4 && EqualsIgnoreCase(pair.substr(0, 4), "for=")) v = pair.substr(4);
        }
        if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
        chain.push_back(v);
      } else {
        chain.push_back(item);
      }
    }
  }
  // From the right: skip the proxies we trust; the first address we do not
  // trust is the client (a client can write anything on the left, nothing on
  // the right). Garbage stops the walk: the proxy itself is then the client.
  std::string_view found;
  for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
    uint8_t bytes[16];
    if (!ParseIp(*it, bytes)) break;
    found = *it;
    if (!p.trusted.Contains(*it)) break;
  }
  if (found.empty()) return;
  req.client_ip.assign(StripPort(found));
}

bool Guard::AdmitClient(const Request& req) {
  if (req.client_ip.empty()) return true;  // the door checked the peer already
  const Policy& p = policy();
  if (!p.deny.empty() && p.deny.Contains(req.client_ip)) {
    Count(Reason::kDenied, req.client_ip);
    return false;
  }
  if (!p.allow.empty() && !p.allow.Contains(req.client_ip)) {
    Count(Reason::kNotAllowed, req.client_ip);
    return false;
  }
  return true;
}

bool Guard::TakeToken(const Request& req, int64_t now_ms, int64_t* retry_after_s) {
  const Policy& p = policy();
  if (p.rate <= 0) return true;
  std::string_view ip = req.ClientIp();
  if (!limiter_.Take(ClientKey(ip), p.rate, p.burst > 0 ? p.burst : p.rate * 2, now_ms,
                     retry_after_s)) {
    Count(Reason::kRateLimit, ip);
    return false;
  }
  return true;
}

bool Guard::TakeSiteToken(const Request& req, std::string_view site, double rate, double burst,
                          int64_t now_ms, int64_t* retry_after_s) {
  if (rate <= 0) return true;
  std::string key = ClientKey(req.ClientIp());
  key.push_back('\n');
  key.append(site);
  if (!limiter_.Take(key, rate, burst > 0 ? burst : rate * 2, now_ms, retry_after_s)) {
    Count(Reason::kSiteRateLimit, req.ClientIp());
    return false;
  }
  return true;
}

void Guard::Count(Reason r, std::string_view detail) {
  int i = static_cast<int>(r);
  refusals_[i].fetch_add(1, std::memory_order_relaxed);
  int64_t now = MonoNowMillis();
  int64_t last = last_log_ms_[i].load(std::memory_order_relaxed);
  // At most a line a second per reason: an attack must not flood the log.
  if (now - last >= 1000 && last_log_ms_[i].compare_exchange_strong(last, now))
    Log(LogLevel::kWarn, "guard: refused",
        {{"reason", ReasonName(r)},
         {"client", std::string(detail)},
         {"total", refusals_[i].load(std::memory_order_relaxed)}});
}

void RespondTooMany(Response& res, int64_t retry_after_s, std::string_view why) {
  res.SetError(429, why);
  res.SetHeader("Retry-After", std::to_string(retry_after_s));
}

}  // namespace hearth::guard
