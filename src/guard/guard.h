#pragma once
// Guard: what keeps one small machine up when clients misbehave. Shared by
// every worker; each check is a few atomics or one short-held shard lock.
//
//   accept    deny/allow lists (CIDR), connections per client IP
//   request   the client's address (forwarded fields only from trusted
//             proxies), a token bucket per client IP (global, and per site)
//   body      a minimum rate (the worker measures it)
//
// Every refusal is counted by reason (for /_hearth/metrics) and logged at
// most once a second per reason.
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "guard/cidr.h"
#include "http/request.h"
#include "http/response.h"

namespace hearth::guard {

// What the settings say (parsed once per change, read by every worker).
struct Policy {
  CidrList allow;  // empty: everyone not denied
  CidrList deny;
  CidrList trusted;               // proxies whose forwarded-for fields are believed
  bool forwarded_header = false;  // they write Forwarded (RFC 7239), not X-Forwarded-For
  double rate = 0;                // requests per second per client IP (0: no limit)
  double burst = 0;
  int64_t max_conns_per_ip = 0;  // 0: no limit
  uint64_t min_body_rate = 0;    // bytes per second a request body must average
  // Admission (per worker, see admission.h): 0 in flight is no bound.
  int64_t max_in_flight = 0;
  int64_t max_queued = 0;
  int64_t max_wait_ms = 0;
};

enum class Reason {
  kDenied,            // on the deny list
  kNotAllowed,        // an allow list exists and the address is not on it
  kPerIpConnections,  // too many connections from one address
  kRateLimit,         // the global per-IP rate
  kSiteRateLimit,     // a site's own per-IP rate
  kSlowBody,          // a body slower than min-body-rate
  kIdleClosed,        // an idle keep-alive connection closed to make room
  kAdmission,         // the admission queue was full or the wait too long
  kCount
};
const char* ReasonName(Reason r);

// Token buckets by key, in shards with a lock each; bounded in memory (a
// full shard forgets its idlest entries first).
class RateLimiter {
 public:
  // Takes a token from `key`'s bucket (`rate` per second, up to `burst`).
  // False when empty; *retry_after_s then says when one will be there.
  bool Take(std::string_view key, double rate, double burst, int64_t now_ms,
            int64_t* retry_after_s);
  size_t size() const;

 private:
  struct Bucket {
    double tokens;
    int64_t at_ms;
  };
  static constexpr int kShards = 16;
  static constexpr size_t kMaxPerShard = 8192;
  struct Shard {
    mutable std::mutex mu;
    std::unordered_map<std::string, Bucket> buckets;
  };
  Shard shards_[kShards];
};

// Open connections per client address.
class ConnectionTable {
 public:
  // Counts one more for `ip` unless it has `max` already (then false).
  bool Acquire(std::string_view ip, int64_t max);
  void Release(std::string_view ip);
  int64_t Count(std::string_view ip) const;

 private:
  static constexpr int kShards = 16;
  struct Shard {
    mutable std::mutex mu;
    std::unordered_map<std::string, int64_t> open;
  };
  Shard shards_[kShards];
};

class Guard {
 public:
  Guard();
  // From any thread (start, SIGHUP); workers see it on their next check.
  void SetPolicy(Policy p);
  // This thread's view of the current policy (a generation check; the lock
  // only when it changed).
  const Policy& policy() const;

  // At accept. Returns false (and counts the reason) to refuse; true means
  // admitted, and when *counted the caller must Release(ip) at close.
  bool Admit(std::string_view peer_ip, bool* counted);
  void Release(std::string_view peer_ip) { conns_.Release(ClientKey(peer_ip)); }
  // Allow and deny for a client resolved through a trusted proxy (the door
  // only saw the proxy): false (after counting) means answer 403.
  bool AdmitClient(const Request& req);

  // Sets req.client_ip from the forwarded fields when the peer is trusted.
  void ResolveClient(Request& req) const;
  // The global per-IP rate: false (after counting) means answer 429 with
  // *retry_after_s. Sites call it with their own rate and a site key.
  bool TakeToken(const Request& req, int64_t now_ms, int64_t* retry_after_s);
  bool TakeSiteToken(const Request& req, std::string_view site, double rate, double burst,
                     int64_t now_ms, int64_t* retry_after_s);

  void Count(Reason r, std::string_view detail = {});
  uint64_t refusals(Reason r) const {
    return refusals_[static_cast<int>(r)].load(std::memory_order_relaxed);
  }

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const Policy> policy_;
  std::atomic<uint64_t> generation_{1};
  const uint64_t id_;
  RateLimiter limiter_;
  ConnectionTable conns_;
  std::atomic<uint64_t> refusals_[static_cast<int>(Reason::kCount)] = {};
  std::atomic<int64_t> last_log_ms_[static_cast<int>(Reason::kCount)] = {};
};

// Answers 429 with Retry-After.
void RespondTooMany(Response& res, int64_t retry_after_s, std::string_view why);

}  // namespace hearth::guard
