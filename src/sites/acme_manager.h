#pragma once
// Automatic certificates for sites: a background thread that finds the
// sites' host names with no certificate (or an ACME certificate past two
// thirds of its life, with a little jitter) and orders one from the ACME CA,
// one order at a time; a failed host waits before its next try (1 minute,
// doubling up to 6 hours). New certificates go into hearth.db (source
// "acme") and are served from the moment they commit.
//
// Hosts it leaves alone: wildcards (HTTP-01 cannot prove them), IP
// addresses, localhost and *.localhost (the local CA's), and names with no
// dot.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "sites/sites.h"
#include "tls/acme.h"

namespace hearth::sites {

class AcmeManager {
 public:
  AcmeManager(SitesShared* shared, tls::AcmeOptions options);
  ~AcmeManager();  // stops the thread (an order in progress gives up)
  void Start();
  // Ends the thread (an order in progress gives up). Poke() after it is harmless.
  void Stop();
  // Hosts or certificates changed: look again now.
  void Poke();
  // Whether ACME would order a certificate for `host` at all.
  static bool Eligible(std::string_view host);

 private:
  void Loop();
  void RunOnce();
  void RunOnceUnguarded();

  SitesShared* shared_;
  tls::AcmeOptions options_;
  std::unique_ptr<tls::AcmeClient> client_;
  struct Backoff {
    int64_t next_ms = 0;
    int64_t delay_ms = 0;
  };
  std::map<std::string, Backoff> backoff_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool poked_ = true;
  std::atomic<bool> cancel_{false};
};

}  // namespace hearth::sites
