#pragma once
// Automatic certificates for sites: a background thread that finds the
// sites' host names with no certificate (or an ACME certificate past two
// thirds of its life, with a little jitter) and orders one from the ACME CA,
// one order at a time; a failed host waits before its next try (1 minute,
// doubling up to 6 hours). New certificates go into hearth.db (source
// "acme") and are served from the moment they commit.
//
// Challenges: the options' list in order (HTTP-01, then TLS-ALPN-01 by
// default); after a failed order the next one starts with the next type.
//
// On demand (tls::OnDemandIssuer): a handshake for a name no certificate
// covers waits while a certificate is ordered for it, if the name belongs to
// a known site (exactly, or under a site's "*.example.com" wildcard) or the
// `ask` URL approves it (GET ask?domain=NAME answers 2xx). Nobody can make
// hearth order certificates for arbitrary names. On-demand orders go before
// renewals; refusals are remembered for a minute; at most kMaxDemand names
// wait at once. Their certificates are renewed like the others while the
// name is still allowed.
//
// Hosts it leaves alone: wildcards (neither challenge can prove them), IP
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

class AcmeManager : public tls::OnDemandIssuer {
 public:
  static constexpr size_t kMaxDemand = 64;
  // `ask`: the URL that approves on-demand names that are no site's ("": none).
  AcmeManager(SitesShared* shared, tls::AcmeOptions options, std::string ask = "");
  ~AcmeManager() override;  // stops the thread (an order in progress gives up)
  void Start();
  // Ends the thread (an order in progress gives up). Poke() after it is harmless.
  void Stop();
  // Hosts or certificates changed: look again now.
  void Poke();
  // Whether ACME would order a certificate for `host` at all.
  static bool Eligible(std::string_view host);
  // Whether `host` is a site's (exactly) or under a site's wildcard of at
  // least two labels ("*.example.com", not "*.com"), among `site_hosts`.
  static bool KnownHost(const std::vector<std::string>& site_hosts, std::string_view host);

  bool Wanted(std::string_view host) override;

 private:
  void Loop();
  void RunOnce();
  void RunOnceUnguarded();
  // Whether `host` may have a certificate that is not a site's own name.
  bool Allowed(const std::vector<std::string>& site_hosts, const std::string& host);
  // Orders and installs a certificate for `host`; false if it failed.
  bool Order(const std::string& host);
  void Settle(const std::string& host, bool denied, int64_t retry_ms);

  SitesShared* shared_;
  tls::AcmeOptions options_;
  std::unique_ptr<tls::AcmeClient> client_;
  std::string ask_;
  struct Backoff {
    int64_t next_ms = 0;
    int64_t delay_ms = 0;
    size_t failures = 0;  // picks the challenge type to start with
  };
  std::map<std::string, Backoff> backoff_;  // the loop thread's own
  // On-demand names (guarded by mu_): waiting (until 0), or refused or
  // failed until `until` (monotonic ms).
  struct Demand {
    int64_t until = 0;
    int64_t asked = 0;
  };
  std::map<std::string, Demand, std::less<>> demand_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool poked_ = true;
  std::atomic<bool> cancel_{false};
};

}  // namespace hearth::sites
