#pragma once
// Logging in to the console: with an admin token, or as an admin user (an
// email and a password, checked with argon2id off the worker). Failed
// attempts are throttled per client network and per account, so a password
// cannot be guessed faster than a few tries a minute.
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "http/request.h"
#include "http/response.h"
#include "sites/sites.h"

namespace hearth::admin {

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
  // The attempt worked: the client's bucket empties, and the account's
  // failure is taken back.
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

// The throttle every worker's console shares.
LoginThrottle& SharedLoginThrottle();

// What a client address counts as: an IPv4 address itself, an IPv6
// address's /64 (one host usually holds a whole /64).
std::string ClientNetwork(std::string_view ip);

// Only the console's own pages are a place to go back to after login.
std::string SafeNext(std::string_view next);

// Prepares what the first login needs (the decoy hash) on the background queue.
void WarmLogin(sites::SitesShared* shared);

// GET and POST /_hearth/login. `reader`: the worker's reader.
void ServeLogin(sites::SitesShared* shared, int reader, Request& req, Response& res);

}  // namespace hearth::admin
