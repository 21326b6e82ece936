#pragma once
// Throttling password guesses, for every place that checks a password: the
// console's login (admin/login.cpp) and the data API's auth-with-password
// (data/auth_api.cpp). Failed attempts count per client network and per
// account, so a password cannot be guessed faster than a few tries a minute
// from one place, nor one account's from many.
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace hearth {

// Failed logins as leaky buckets: each failure adds one to the client's
// bucket and to the account's, and each drains one failure every
// `drain_seconds`. A login is refused while either bucket is full.
class LoginThrottle {
 public:
  struct Limits {
    double per_client = 5;    // failures a client network may make at once
    double per_account = 10;  // failures against one email, from anywhere
    int64_t drain_seconds = 60;
    size_t max_keys = 10000;  // buckets kept; the emptiest are forgotten first
  };
  LoginThrottle() : LoginThrottle(Limits{}) {}
  explicit LoginThrottle(Limits limits) : limits_(limits) {}

  // A login attempt by `client` (for `email`; "" for a token): 0 if it may
  // go ahead, and then it counts as a failure until Succeeded says otherwise
  // (so attempts made in parallel cannot outrun the limit); else the seconds
  // until it may.
  int64_t Try(std::string_view client, std::string_view email, int64_t now);
  // The attempt worked: its one failure comes off both buckets (as Undo);
  // the client's earlier failures stay.
  void Succeeded(std::string_view client, std::string_view email, int64_t now);
  // The attempt was never made (refused before it was checked): the one
  // failure Try counted comes off both buckets, and nothing more.
  void Undo(std::string_view client, std::string_view email, int64_t now);

 private:
  struct Bucket {
    double level = 0;
    int64_t at = 0;
  };
  double Level(const std::string& key, int64_t now);  // drained to `now`; 0 if unknown
  void Add(const std::string& key, int64_t now);

  Limits limits_;
  std::mutex mu_;
  std::unordered_map<std::string, Bucket> buckets_;
};

// What a client address counts as: an IPv4 address itself, an IPv6
// address's /64 (one host usually holds a whole /64), or its /`v6_prefix`
// where one holder gets a whole site (48) and must not count as many.
std::string ClientNetwork(std::string_view ip, int v6_prefix = 64);

}  // namespace hearth
