#include "base/login_throttle.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cmath>

#include "base/strings.h"

namespace hearth {
namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = AsciiLower(c);
  return out;
}

}  // namespace

double LoginThrottle::Level(const std::string& key, int64_t now) {
  auto it = buckets_.find(key);
  if (it == buckets_.end()) return 0;
  double drained =
      static_cast<double>(now - it->second.at) / static_cast<double>(limits_.drain_seconds);
  return std::max(0.0, it->second.level - std::max(0.0, drained));
}

void LoginThrottle::Add(const std::string& key, int64_t now) {
  double level = Level(key, now);
  if (!buckets_.count(key) && buckets_.size() >= limits_.max_keys) {
    // Full: forget the drained buckets, then (a flood of new addresses) the
    // emptiest one, so the table's memory stays bounded.
    for (auto it = buckets_.begin(); it != buckets_.end();)
      it = Level(it->first, now) <= 0 ? buckets_.erase(it) : std::next(it);
    if (buckets_.size() >= limits_.max_keys) {
      auto emptiest = std::min_element(
          buckets_.begin(), buckets_.end(),
          [&](const auto& a, const auto& b) { return Level(a.first, now) < Level(b.first, now); });
      buckets_.erase(emptiest);
    }
  }
  buckets_[key] = Bucket{level + 1, now};
}

int64_t LoginThrottle::Try(std::string_view client, std::string_view email, int64_t now) {
  std::lock_guard lock(mu_);
  // The time until a bucket has room for one more failure.
  auto wait = [&](const std::string& key, double limit) -> int64_t {
    double over = Level(key, now) - (limit - 1);
    return over > 0
               ? static_cast<int64_t>(std::ceil(over * static_cast<double>(limits_.drain_seconds)))
               : 0;
  };
  std::string client_key = "c:" + std::string(client), account_key = "a:" + Lower(email);
  int64_t w = wait(client_key, limits_.per_client);
  if (!email.empty()) w = std::max(w, wait(account_key, limits_.per_account));
  if (w > 0) return w;
  Add(client_key, now);
  if (!email.empty()) Add(account_key, now);
  return 0;
}

// A success takes back only its own try, from both buckets: emptying the
// client's bucket would let a client with one account of its own spray
// guesses at others, a success between every few.
void LoginThrottle::Succeeded(std::string_view client, std::string_view email, int64_t now) {
  Undo(client, email, now);
}

void LoginThrottle::Undo(std::string_view client, std::string_view email, int64_t now) {
  std::lock_guard lock(mu_);
  for (const std::string& key :
       {"c:" + std::string(client), email.empty() ? std::string() : "a:" + Lower(email)}) {
    if (key.empty()) continue;
    if (auto it = buckets_.find(key); it != buckets_.end())
      it->second = Bucket{std::max(0.0, Level(key, now) - 1), now};
  }
}

std::string ClientNetwork(std::string_view ip, int v6_prefix) {
  std::string text(ip);
  unsigned char a[16];
  if (text.find(':') == std::string::npos || inet_pton(AF_INET6, text.c_str(), a) != 1) return text;
  // An IPv4-mapped address is its IPv4 address.
  static const unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  char out[INET6_ADDRSTRLEN];
  if (std::equal(a, a + 12, kMapped))
    return inet_ntop(AF_INET, a + 12, out, sizeof out) ? out : text;
  int bytes = v6_prefix / 8;  // 64 or 48: whole bytes
  std::fill(a + bytes, a + 16, 0);
  return std::string(inet_ntop(AF_INET6, a, out, sizeof out) ? out : text.c_str()) + "/" +
         std::to_string(bytes * 8);
}

}  // namespace hearth
