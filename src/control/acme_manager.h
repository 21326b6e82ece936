#pragma once
// Automatic certificates for sites: a background job that finds the
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
// covers waits while a certificate is ordered for it, if the name is a
// site's own host (decided at once from a cached list, refreshed on every
// routing change) or the `ask` URL approves it (GET ask?domain=NAME answers
// 2xx, asked by a job of its own; without `ask`, any other name is
// refused at once and no handshake waits). Names under a site's wildcard are
// "other names" too: only `ask` can let them in. Nobody can make hearth
// order certificates for arbitrary names, and asked-for names are bounded
// further: at most kOnDemandPerHour orders an hour, at most kMaxDemand names
// waiting at once, refusals remembered for a minute (and forgotten when the
// routing changes). Orders alternate between waiting names and renewals, so
// neither starves the other. Certificates made for asked-for names are
// renewed while `ask` still approves and the certificate was used in the
// last third of its life (or since hearth started); the rest lapse, and ACME
// certificates expired for over a day are deleted.
//
// Hosts it leaves alone: wildcards (neither challenge can prove them), IP
// addresses, localhost and *.localhost (the local CA's), and names with no
// dot.
//
// Threads: both jobs ("acme-orders", leader_only; "acme-ask") run on a
// scheduler of ACME's own ("hearth-acme", two threads): an order blocks for
// seconds on the CA and its challenges, and must not hold the shared jobs'
// threads, nor an ask wait behind an order. Stop() cancels the transfer in
// progress, so it returns promptly even when the CA does not answer.
#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "base/scheduler.h"
#include "control/control.h"
#include "tls/acme.h"

namespace hearth::control {

class AcmeManager : public tls::OnDemandIssuer {
 public:
  static constexpr size_t kMaxDemand = 64;
  static constexpr size_t kOnDemandPerHour = 30;
  // `ask`: the URL that approves on-demand names that are no site's ("": none).
  // `wait_ms`: how long a handshake waits (a name waiting twice that long
  // without an order under way is given up).
  AcmeManager(ControlShared* shared, tls::AcmeOptions options, std::string ask = "",
              int64_t wait_ms = 20000);
  ~AcmeManager() override;  // Stop()
  // Reads the sites' hosts, then adds the jobs.
  void Start();
  // Ends the jobs (an order or ask in progress gives up) and joins the
  // scheduler's threads. Poke() after it is harmless.
  void Stop();
  // Hosts or certificates changed: look again now.
  void Poke();
  // ACME's jobs on its scheduler (for the console and tests).
  std::vector<JobInfo> Jobs() const { return jobs_.Jobs(); }
  // Whether ACME would order a certificate for `host` at all.
  static bool Eligible(std::string_view host);

  // Non-blocking: true when `host` is a site's own or waits for (or was
  // given) the ask URL's approval and an order.
  bool Wanted(std::string_view host) override;
  // The sites' own host names, as the database has them (the orders job sets them;
  // public for tests).
  void SetSiteHosts(const std::vector<std::string>& hosts);

 private:
  enum class State { kAsk, kAsking, kOrder, kOrdering, kRefused };
  struct Demand {
    State state = State::kAsk;
    int64_t since = 0;      // monotonic ms: when a handshake first wanted it
    int64_t until = 0;      // kRefused: until when (monotonic ms)
    bool approved = false;  // by the ask URL
  };

  // The "acme-ask" job: asks the ask URL about every name waiting for its
  // answer; returns the delay to its next run.
  int64_t AskWaiting();
  void RunOnce();
  void RunOnceUnguarded();
  // Serves one waiting on-demand name (its order, or why not).
  void ServeDemand(const std::string& host, bool site_host);
  // Whether a name that is no site's own may have its certificate renewed.
  bool AskAllows(const std::string& host);
  // Orders and installs a certificate for `host`; false if it failed.
  bool Order(const std::string& host);
  // A waiting name is done: erased (retry_ms <= 0) or refused for retry_ms.
  void Settle(const std::string& host, int64_t retry_ms);
  // Every name waiting for an order (or in one) is refused for a while:
  // the orders job cannot serve them now.
  void FailWaiting(State which);
  // Whether another asked-for order fits in this hour's budget (mu_ held).
  bool BudgetLeftLocked(int64_t now_ms);
  // Deletes ACME certificates expired for over a day (the certificates'
  // observer installs what is left).
  void DropLapsed(int64_t now);

  ControlShared* shared_;
  tls::AcmeOptions options_;
  std::unique_ptr<tls::AcmeClient> client_;
  std::string ask_;
  int64_t wait_ms_;
  struct Backoff {
    int64_t next_ms = 0;
    int64_t delay_ms = 0;
    size_t failures = 0;  // picks the challenge type to start with
  };
  std::map<std::string, Backoff> backoff_;  // the orders job's own
  // On-demand certificates let lapse, and when to look at them again (the
  // orders job's own; monotonic ms). Not a failure: a demand still orders.
  std::map<std::string, int64_t> lapsing_;
  bool prefer_demand_ = true;  // the orders job's own: whose turn it is
  // Guarded by mu_: the on-demand names, the sites' hosts, and the times of
  // this hour's orders for asked-for names.
  std::map<std::string, Demand, std::less<>> demand_;
  std::set<std::string, std::less<>> site_hosts_;
  std::deque<int64_t> asked_orders_;
  std::mutex mu_;
  bool stop_ = false;  // guarded by mu_
  std::atomic<bool> cancel_{false};
  // The jobs' ids (0: not added yet); Poke and Wanted read them from any thread.
  std::atomic<uint64_t> order_job_{0}, ask_job_{0};
  // Declared last: destroyed (its threads joined) before what the jobs use.
  Scheduler jobs_{"hearth-acme", 2};
};

}  // namespace hearth::control
