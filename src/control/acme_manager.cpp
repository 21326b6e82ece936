#include "control/acme_manager.h"

#include <arpa/inet.h>
#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "base/log.h"
#include "base/strings.h"
#include "tls/certs.h"

namespace hearth::control {

using nlohmann::json;

namespace {

constexpr int64_t kTickMs = 5000;
constexpr int64_t kFirstBackoffMs = 60 * 1000;
constexpr int64_t kMaxBackoffMs = 6 * 3600 * 1000;
constexpr int64_t kRefuseMs =
    60 * 1000;  // a refused or failed on-demand name, before it may be tried again
constexpr int64_t kHourMs = 3600 * 1000;
constexpr size_t kMaxDemandEntries = 16 * AcmeManager::kMaxDemand;  // waiting and refused together

struct CertRow {
  int64_t id = 0;
  std::vector<std::string> hosts;
  std::string source;
  int64_t not_after = 0, created_at = 0;
};

}  // namespace

bool AcmeManager::Eligible(std::string_view host) {
  if (host.empty() || host.find('*') != std::string_view::npos ||
      host.find('.') == std::string_view::npos)
    return false;
  unsigned char buf[16];
  std::string h(host);
  if (inet_pton(AF_INET, h.c_str(), buf) == 1 || inet_pton(AF_INET6, h.c_str(), buf) == 1)
    return false;
  constexpr std::string_view kLocal = ".localhost";
  if (h.size() >= kLocal.size() && h.compare(h.size() - kLocal.size(), kLocal.size(), kLocal) == 0)
    return false;
  return tls::IsCertHost(host);
}

AcmeManager::AcmeManager(ControlShared* shared, tls::AcmeOptions options, std::string ask,
                         int64_t wait_ms)
    : shared_(shared), options_(std::move(options)), ask_(std::move(ask)), wait_ms_(wait_ms) {
  options_.cancel = &cancel_;
}

AcmeManager::~AcmeManager() {
  Stop();
}

void AcmeManager::Stop() {
  cancel_.store(true);  // an order or ask in progress gives up at its next step
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  jobs_.Stop();  // waits for the runs in progress, which the cancel cut short
}

void AcmeManager::Start() {
  // The hosts first: a handshake right after start-up is decided from them.
  std::vector<std::string> hosts;
  Status read = shared_->store->Write([&](store::Connection& c) -> Status {
    auto h = c.Prepare("SELECT host FROM site_hosts");
    if (!h.ok()) return h.error();
    Status s = OkStatus();
    while (h->Step(&s)) hosts.emplace_back(h->Text(0));
    return s;
  });
  if (read.ok()) SetSiteHosts(hosts);
  // Orders and renewals are the leader's work once there is a cluster; the
  // ask answers this node's own handshakes.
  order_job_.store(jobs_.Timed(
      "acme-orders", 0,
      [this] {
        RunOnce();
        return kTickMs;
      },
      JobOptions{.leader_only = true}));
  if (!ask_.empty()) ask_job_.store(jobs_.Timed("acme-ask", 0, [this] { return AskWaiting(); }));
}

void AcmeManager::SetSiteHosts(const std::vector<std::string>& hosts) {
  std::set<std::string, std::less<>> fresh(hosts.begin(), hosts.end());
  std::lock_guard<std::mutex> lock(mu_);
  if (fresh == site_hosts_) return;
  site_hosts_ = std::move(fresh);
  // The routing changed: what was refused may be a site's now.
  for (auto it = demand_.begin(); it != demand_.end();)
    it = it->second.state == State::kRefused ? demand_.erase(it) : std::next(it);
}

bool AcmeManager::BudgetLeftLocked(int64_t now_ms) {
  while (!asked_orders_.empty() && now_ms - asked_orders_.front() >= kHourMs)
    asked_orders_.pop_front();
  return asked_orders_.size() < kOnDemandPerHour;
}

void AcmeManager::Poke() {
  // Before Start (no job yet) there is nothing to poke: Start runs it at once.
  if (uint64_t job = order_job_.load()) jobs_.RunSoon(job);
}

bool AcmeManager::Wanted(std::string_view host) {
  if (!Eligible(host)) return false;
  int64_t now = MonoNowMillis();
  bool site = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_) return false;
    if (auto it = demand_.find(host); it != demand_.end()) {
      Demand& d = it->second;
      switch (d.state) {
        case State::kAsking:
        case State::kOrdering:
          return true;  // under way
        case State::kAsk:
        case State::kOrder:
          if (now - d.since <= 2 * wait_ms_) return true;
          // Nobody got to it in time (the loop is busy or stuck): give up.
          d.state = State::kRefused;
          d.until = now + kRefuseMs;
          return false;
        case State::kRefused:
          if (now < d.until) return false;
          demand_.erase(it);
          break;
      }
    }
    site = site_hosts_.count(host) > 0;
    // Decided here, with no pause: no ask URL, or no budget left for it.
    if (!site && (ask_.empty() || !BudgetLeftLocked(now))) return false;
    size_t waiting = 0;
    auto evict = demand_.end();
    for (auto it = demand_.begin(); it != demand_.end();) {
      State st = it->second.state;
      if ((st == State::kAsk || st == State::kOrder) && now - it->second.since > 2 * wait_ms_) {
        // Its handshakes gave up long ago: no ask, no order for it now.
        it->second.state = State::kRefused;
        it->second.until = now + kRefuseMs;
      }
      if (it->second.state == State::kRefused) {
        if (now >= it->second.until) {
          it = demand_.erase(it);
          continue;
        }
        if (evict == demand_.end() || it->second.until < evict->second.until) evict = it;
      } else {
        ++waiting;
      }
      ++it;
    }
    // Bounded: names cycling through handshakes cannot queue without end,
    // and old refusals make room for new names rather than blocking them.
    if (waiting >= kMaxDemand) return false;
    if (demand_.size() >= kMaxDemandEntries) {
      if (evict == demand_.end()) return false;
      demand_.erase(evict);
    }
    demand_.emplace(std::string(host), Demand{site ? State::kOrder : State::kAsk, now, 0, false});
  }
  if (uint64_t job = (site ? order_job_ : ask_job_).load()) jobs_.RunSoon(job);
  return true;
}

void AcmeManager::Settle(const std::string& host, int64_t retry_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = demand_.find(host);
  if (it == demand_.end()) return;
  if (retry_ms <= 0) {
    demand_.erase(it);
  } else {
    it->second.state = State::kRefused;
    it->second.until = MonoNowMillis() + retry_ms;
  }
}

void AcmeManager::FailWaiting(State which) {
  std::lock_guard<std::mutex> lock(mu_);
  int64_t now = MonoNowMillis();
  for (auto& [h, d] : demand_)
    if (d.state == which) {
      d.state = State::kRefused;
      d.until = now + kRefuseMs;
    }
}

int64_t AcmeManager::AskWaiting() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    // The oldest name waiting for its answer.
    auto next = demand_.end();
    int64_t now = MonoNowMillis();
    for (auto it = demand_.begin(); it != demand_.end(); ++it) {
      if (it->second.state != State::kAsk) continue;
      if (now - it->second.since > 2 * wait_ms_) {  // nobody waits for this answer any more
        it->second.state = State::kRefused;
        it->second.until = now + kRefuseMs;
        continue;
      }
      if (next == demand_.end() || it->second.since < next->second.since) next = it;
    }
    // None left: Wanted() pokes the job for the next; the tick only tidies.
    if (next == demand_.end()) return kTickMs;
    std::string host = next->first;
    next->second.state = State::kAsking;
    lock.unlock();
    auto yes = tls::AskApproves(ask_, host, &cancel_);
    if (!yes.ok())
      Log(LogLevel::kWarn, "acme: the ask URL did not answer; refusing",
          {{"host", host}, {"error", yes.error().message}});
    else if (!*yes)
      Log(LogLevel::kInfo, "acme: on-demand certificate refused by the ask URL", {{"host", host}});
    lock.lock();
    auto it = demand_.find(host);
    if (it == demand_.end() || it->second.state != State::kAsking) continue;
    if (yes.ok() && *yes) {
      it->second.state = State::kOrder;
      it->second.approved = true;
      lock.unlock();
      Poke();
      lock.lock();
    } else {
      it->second.state = State::kRefused;
      it->second.until = MonoNowMillis() + kRefuseMs;
    }
  }
  return -1;
}

void AcmeManager::RunOnce() {
  // Nothing the CA sends may end the job (or the server) with it.
  try {
    RunOnceUnguarded();
  } catch (const std::exception& e) {
    Log(LogLevel::kError, "acme: unexpected failure", {{"error", e.what()}});
  }
  // A name whose order did not come to an end (an exception) waits no more.
  FailWaiting(State::kOrdering);
}

bool AcmeManager::AskAllows(const std::string& host) {
  if (ask_.empty() || !Eligible(host)) return false;
  auto yes = tls::AskApproves(ask_, host, &cancel_);
  if (!yes.ok()) {
    Log(LogLevel::kWarn, "acme: the ask URL did not answer; not renewing",
        {{"host", host}, {"error", yes.error().message}});
    return false;
  }
  return *yes;
}

void AcmeManager::RunOnceUnguarded() {
  // What hosts there are, and what certificates: read on the writer's
  // connection (this thread has none of its own).
  std::vector<std::string> hosts;
  std::vector<CertRow> certs;
  std::string account_key;
  Status read = shared_->store->Write([&](store::Connection& c) -> Status {
    auto h = c.Prepare("SELECT host FROM site_hosts ORDER BY host");
    if (!h.ok()) return h.error();
    Status s = OkStatus();
    while (h->Step(&s)) hosts.emplace_back(h->Text(0));
    auto q = c.Prepare("SELECT hosts, source, not_after, created_at, id FROM certs");
    if (!q.ok()) return q.error();
    while (q->Step(&s)) {
      CertRow row;
      row.id = q->Int(4);
      json hs = json::parse(q->Text(0), nullptr, false);
      if (hs.is_array())
        for (const auto& x : hs)
          if (x.is_string()) row.hosts.push_back(x.get<std::string>());
      row.source = std::string(q->Text(1));
      row.not_after = q->Int(2);
      row.created_at = q->Int(3);
      certs.push_back(std::move(row));
    }
    if (client_) return s;
    auto k = c.Named("meta.get");
    k.Bind(1, std::string_view("acme_account_key"));
    if (k.Step(&s)) account_key = std::string(k.Text(0));
    return s;
  });
  if (!read.ok()) {
    Log(LogLevel::kWarn, "acme: cannot read sites", {{"error", read.error().message}});
    FailWaiting(State::kOrder);  // no handshake waits on a loop that cannot work
    return;
  }
  SetSiteHosts(hosts);
  int64_t now = static_cast<int64_t>(time(nullptr));
  DropLapsed(now);
  if (!client_) {
    auto c = tls::AcmeClient::Create(options_, shared_->acme_challenges, account_key);
    if (!c.ok()) {
      Log(LogLevel::kError, "acme: cannot set up the account", {{"error", c.error().message}});
      FailWaiting(State::kOrder);
      return;
    }
    client_ = std::move(c).value();
    if (account_key.empty()) {
      std::string pem = client_->account_key_pem();
      (void)shared_->store->Write([&](store::Connection& c) {
        return c.Named("meta.put").Bind(1, std::string_view("acme_account_key")).Bind(2, pem).Run();
      });
    }
  }
  int64_t now_ms = MonoNowMillis();

  // The renewal (or first certificate) due next, if any. Candidates: the
  // sites' own names, and the names of ACME certificates made on demand.
  std::string due;
  std::vector<std::string> candidates;
  for (const auto& h : hosts)
    if (Eligible(h)) candidates.push_back(h);
  for (const auto& row : certs)
    if (row.source == "acme")
      for (const auto& h : row.hosts)
        if (Eligible(h) && std::find(candidates.begin(), candidates.end(), h) == candidates.end())
          candidates.push_back(h);
  for (const auto& host : candidates) {
    // The newest certificate covering it decides.
    const CertRow* best = nullptr;
    for (const auto& row : certs)
      for (const auto& p : row.hosts)
        if (tls::HostMatches(p, host) && (!best || row.created_at >= best->created_at)) best = &row;
    bool own = std::find(hosts.begin(), hosts.end(), host) != hosts.end();
    if (!own && !best) continue;
    if (best && best->source != "acme" && best->not_after > now)
      continue;  // someone else's: leave it
    int64_t life = best ? best->not_after - best->created_at : 0;
    if (best && best->source == "acme") {
      // Two thirds of its life, minus up to 5% of jitter so that many
      // certificates made together are not all renewed together (fixed per
      // certificate: drawn anew each tick it would average away).
      uint64_t r = static_cast<uint64_t>(best->id) * 0x9E3779B97F4A7C15ull >> 56;  // 0..255
      int64_t renew_at =
          best->created_at + life * 2 / 3 - life * static_cast<int64_t>(r) / (255 * 20);
      if (now < renew_at) continue;
    }
    auto& b = backoff_[host];
    if (b.next_ms > now_ms) continue;
    if (!own) {
      // Made on demand: renewed only while it is used and still approved.
      int64_t used = shared_->tls ? shared_->tls->LastUsed(best->id) : now;
      if (auto l = lapsing_.find(host); l != lapsing_.end() && l->second > now_ms) continue;
      if (used < now - life / 3 || !AskAllows(host)) {
        Log(LogLevel::kInfo,
            "acme: letting an on-demand certificate lapse (unused, or no longer approved)",
            {{"host", host}});
        // Looked at again in an hour (not a failure: a handshake that wants
        // the name later still gets a certificate at once).
        lapsing_[host] = now_ms + kHourMs;
        continue;
      }
    }
    due = host;
    break;
  }

  // A waiting on-demand name, the oldest.
  std::string demanded;
  bool demanded_site = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    int64_t oldest = 0;
    int64_t mono = MonoNowMillis();
    for (auto& [h, d] : demand_) {
      if (d.state == State::kOrder && mono - d.since > 2 * wait_ms_) {  // its handshakes gave up
        d.state = State::kRefused;
        d.until = mono + kRefuseMs;
      }
    }
    for (const auto& [h, d] : demand_)
      if (d.state == State::kOrder && (demanded.empty() || d.since < oldest)) {
        demanded = h;
        oldest = d.since;
        demanded_site = !d.approved;
      }
    if (!demanded.empty()) demand_[demanded].state = State::kOrdering;
  }
  if (demanded.empty() && due.empty()) return;
  // One order at a time; waiting names and renewals take turns.
  if (!demanded.empty() && (due.empty() || prefer_demand_)) {
    prefer_demand_ = false;
    ServeDemand(demanded, demanded_site);
  } else {
    prefer_demand_ = true;
    if (!demanded.empty()) {
      std::lock_guard<std::mutex> lock(mu_);
      if (auto it = demand_.find(demanded);
          it != demand_.end() && it->second.state == State::kOrdering)
        it->second.state = State::kOrder;  // next turn
    }
    bool ok = Order(due);
    if (ok) Settle(due, 0);  // a handshake waiting on it has it now
  }
  Poke();  // others may wait
}

void AcmeManager::ServeDemand(const std::string& host, bool site_host) {
  int64_t now_ms = MonoNowMillis();
  if (shared_->tls && shared_->tls->Covers(host)) {
    Settle(host, 0);  // a renewal or an import got there first
    return;
  }
  if (auto b = backoff_.find(host); b != backoff_.end() && b->second.next_ms > now_ms) {
    Settle(host, b->second.next_ms - now_ms);  // failed lately: not again before its time
    return;
  }
  bool allowed;
  {
    std::lock_guard<std::mutex> lock(mu_);
    // A site's host must still be one (the routing may have changed); an
    // approved name must fit in this hour's budget.
    allowed = site_host ? site_hosts_.count(host) > 0 : BudgetLeftLocked(now_ms);
    if (allowed && !site_host) asked_orders_.push_back(now_ms);
  }
  if (!allowed) {
    Log(LogLevel::kWarn,
        "acme: on-demand certificate not ordered (no longer a site's host, or this hour's budget "
        "is spent)",
        {{"host", host}, {"per_hour", static_cast<int64_t>(kOnDemandPerHour)}});
    Settle(host, kRefuseMs);
    return;
  }
  lapsing_.erase(host);
  bool ok = Order(host);
  Settle(host, ok ? 0 : std::max<int64_t>(kRefuseMs, backoff_[host].next_ms - MonoNowMillis()));
}

void AcmeManager::DropLapsed(int64_t now) {
  int changes = 0;
  // Served no more once committed: the certificates' observer (ObserveCerts).
  Status done = shared_->store->Write([&](store::Connection& c) -> Status {
    auto del = c.Prepare("DELETE FROM certs WHERE source = 'acme' AND not_after < ?1");
    if (!del.ok()) return del.error();
    if (Status s = del->Bind(1, now - 86400).Run(); !s.ok()) return s;
    changes = sqlite3_changes(c.raw());
    return OkStatus();
  });
  if (!done.ok()) {
    Log(LogLevel::kWarn, "acme: cannot drop lapsed certificates",
        {{"error", done.error().message}});
    return;
  }
  if (changes == 0) return;
  Log(LogLevel::kInfo, "acme: dropped certificates expired for over a day", {{"count", changes}});
}

bool AcmeManager::Order(const std::string& want) {
  auto& b = backoff_[want];
  // After a failure, start with the next challenge type: a CA that cannot
  // reach port 80 may still reach port 443, and the other way round.
  std::vector<std::string> types = options_.challenges;
  if (!types.empty())
    std::rotate(types.begin(), types.begin() + static_cast<long>(b.failures % types.size()),
                types.end());
  Log(LogLevel::kInfo, "acme: ordering a certificate",
      {{"host", want},
       {"directory", options_.directory},
       {"challenge", types.empty() ? "" : types[0]}});
  auto got = client_->Obtain({want}, types);
  auto info =
      got.ok() ? tls::Inspect(got->cert_pem, got->key_pem) : Result<tls::CertInfo>(got.error());
  if (!info.ok()) {
    b.delay_ms = b.delay_ms ? std::min(b.delay_ms * 2, kMaxBackoffMs) : kFirstBackoffMs;
    b.next_ms = MonoNowMillis() + b.delay_ms;
    ++b.failures;
    Log(LogLevel::kWarn, "acme: the order failed; trying again later",
        {{"host", want}, {"error", info.error().message}, {"retry_in_s", b.delay_ms / 1000}});
    return false;
  }
  backoff_.erase(want);
  // Served from the moment it commits: the certificates' observer (ObserveCerts).
  Status stored = shared_->store->Write([&](store::Connection& c) -> Status {
    store::Statement st = c.Named("certs.insert");
    st.Bind(1, json(info->hosts).dump())
        .Bind(2, got->cert_pem)
        .Bind(3, got->key_pem)
        .Bind(4, std::string_view("acme"));
    st.Bind(5, info->issuer).Bind(6, info->not_after);
    if (Status s = st.Run(); !s.ok()) return s;
    int64_t inserted = static_cast<int64_t>(sqlite3_last_insert_rowid(c.raw()));
    // The certificate it renews (same hosts, from ACME) is no longer needed.
    auto old = c.Prepare("DELETE FROM certs WHERE source = 'acme' AND hosts = ?1 AND id < ?2");
    if (!old.ok()) return old.error();
    return old->Bind(1, json(info->hosts).dump()).Bind(2, inserted).Run();
  });
  if (!stored.ok()) {
    Log(LogLevel::kError, "acme: cannot store the certificate",
        {{"host", want}, {"error", stored.error().message}});
    auto& again = backoff_[want];
    again.delay_ms = kFirstBackoffMs;
    again.next_ms = MonoNowMillis() + again.delay_ms;
    return false;
  }
  Log(LogLevel::kInfo, "acme: certificate installed",
      {{"host", want}, {"issuer", info->issuer}, {"not_after", info->not_after}});
  return true;
}

}  // namespace hearth::control
