#include "sites/acme_manager.h"

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

namespace hearth::sites {

using nlohmann::json;

namespace {

constexpr int64_t kTickMs = 5000;
constexpr int64_t kFirstBackoffMs = 60 * 1000;
constexpr int64_t kMaxBackoffMs = 6 * 3600 * 1000;

struct CertRow {
  int64_t id = 0;
  std::vector<std::string> hosts;
  std::string source;
  int64_t not_after = 0, created_at = 0;
};

}  // namespace

bool AcmeManager::Eligible(std::string_view host) {
  if (host.empty() || host.find('*') != std::string_view::npos || host.find('.') == std::string_view::npos)
    return false;
  unsigned char buf[16];
  std::string h(host);
  if (inet_pton(AF_INET, h.c_str(), buf) == 1 || inet_pton(AF_INET6, h.c_str(), buf) == 1) return false;
  constexpr std::string_view kLocal = ".localhost";
  if (h.size() >= kLocal.size() && h.compare(h.size() - kLocal.size(), kLocal.size(), kLocal) == 0) return false;
  return tls::IsCertHost(host);
}

bool AcmeManager::KnownHost(const std::vector<std::string>& site_hosts, std::string_view host) {
  for (const auto& p : site_hosts) {
    if (p == host) return true;
    // "*.com" would let anyone's name in: a wildcard needs two labels after it.
    if (p.size() > 2 && p[0] == '*' && p[1] == '.' && p.find('.', 2) != std::string::npos &&
        tls::HostMatches(p, host))
      return true;
  }
  return false;
}

AcmeManager::AcmeManager(SitesShared* shared, tls::AcmeOptions options, std::string ask)
    : shared_(shared), options_(std::move(options)), ask_(std::move(ask)) {
  options_.cancel = &cancel_;
}

AcmeManager::~AcmeManager() { Stop(); }

void AcmeManager::Stop() {
  cancel_.store(true);  // an order in progress gives up at its next step
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void AcmeManager::Start() {
  thread_ = std::thread([this] { Loop(); });
}

void AcmeManager::Poke() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    poked_ = true;
  }
  cv_.notify_all();
}

bool AcmeManager::Wanted(std::string_view host) {
  if (!Eligible(host)) return false;
  int64_t now = MonoNowMillis();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_) return false;
    auto it = demand_.find(host);
    if (it != demand_.end()) {
      if (it->second.until == 0) return true;  // on its way
      if (now < it->second.until) return false;  // refused or failed lately
      demand_.erase(it);
    }
    size_t waiting = 0;
    for (auto i = demand_.begin(); i != demand_.end();) {
      if (i->second.until != 0 && now >= i->second.until) {
        i = demand_.erase(i);
        continue;
      }
      if (i->second.until == 0) ++waiting;
      ++i;
    }
    // Bounded: names cycling through handshakes cannot queue without end.
    if (waiting >= kMaxDemand || demand_.size() >= 16 * kMaxDemand) return false;
    demand_[std::string(host)] = Demand{0, now};
    poked_ = true;
  }
  cv_.notify_all();
  return true;
}

void AcmeManager::Settle(const std::string& host, bool denied, int64_t retry_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = demand_.find(host);
  if (it == demand_.end()) return;
  if (retry_ms <= 0) demand_.erase(it);
  else it->second.until = MonoNowMillis() + retry_ms;
  (void)denied;
}

void AcmeManager::Loop() {
  while (true) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait_for(lock, std::chrono::milliseconds(kTickMs), [&] { return stop_ || poked_; });
      if (stop_) return;
      poked_ = false;
    }
    RunOnce();
  }
}

void AcmeManager::RunOnce() {
  // Nothing the CA sends may end the thread (or the server) with it.
  try {
    RunOnceUnguarded();
  } catch (const std::exception& e) {
    Log(LogLevel::kError, "acme: unexpected failure", {{"error", e.what()}});
  }
}

bool AcmeManager::Allowed(const std::vector<std::string>& site_hosts, const std::string& host) {
  if (!Eligible(host)) return false;
  if (KnownHost(site_hosts, host)) return true;
  if (ask_.empty()) return false;
  auto yes = tls::AskApproves(ask_, host);
  if (!yes.ok()) {
    Log(LogLevel::kWarn, "acme: the ask URL did not answer; refusing", {{"host", host}, {"error", yes.error().message}});
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
    return;
  }
  if (!client_) {
    auto c = tls::AcmeClient::Create(options_, shared_->acme_challenges, account_key);
    if (!c.ok()) {
      Log(LogLevel::kError, "acme: cannot set up the account", {{"error", c.error().message}});
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
  // A client waits on an on-demand name: that goes first.
  std::string demanded;
  {
    std::lock_guard<std::mutex> lock(mu_);
    int64_t oldest = 0;
    for (const auto& [h, d] : demand_)
      if (d.until == 0 && (demanded.empty() || d.asked < oldest)) {
        demanded = h;
        oldest = d.asked;
      }
  }
  if (!demanded.empty()) {
    if (!Allowed(hosts, demanded)) {
      Log(LogLevel::kInfo, "acme: on-demand certificate refused (not a site's host, not approved)", {{"host", demanded}});
      Settle(demanded, true, 60 * 1000);
    } else if (auto b = backoff_.find(demanded); b != backoff_.end() && b->second.next_ms > now_ms) {
      Settle(demanded, false, b->second.next_ms - now_ms);  // failed lately: not again before its time
    } else {
      bool ok = Order(demanded);
      Settle(demanded, false, ok ? 0 : backoff_[demanded].next_ms - MonoNowMillis());
    }
    Poke();  // others may wait, and renewals
    return;
  }

  int64_t now = static_cast<int64_t>(time(nullptr));
  // Candidates: the sites' own names, and the names of ACME certificates
  // made on demand (renewed while they are still allowed).
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
    if (best && best->source != "acme" && best->not_after > now) continue;  // someone else's: leave it
    if (best && best->source == "acme") {
      int64_t life = best->not_after - best->created_at;
      // Two thirds of its life, minus up to 5% of jitter so that many
      // certificates made together are not all renewed together (fixed per
      // certificate: drawn anew each tick it would average away).
      uint64_t r = static_cast<uint64_t>(best->id) * 0x9E3779B97F4A7C15ull >> 56;  // 0..255
      int64_t renew_at = best->created_at + life * 2 / 3 - life * static_cast<int64_t>(r) / (255 * 20);
      if (now < renew_at) continue;
    }
    auto& b = backoff_[host];
    if (b.next_ms > now_ms) continue;
    if (!own && !Allowed(hosts, host)) {
      // Made on demand, and no longer allowed: let it run out.
      b.next_ms = now_ms + kMaxBackoffMs;
      continue;
    }
    if (Order(host)) Poke();  // another host may be waiting
    return;  // one order at a time
  }
}

bool AcmeManager::Order(const std::string& want) {
  auto& b = backoff_[want];
  // After a failure, start with the next challenge type: a CA that cannot
  // reach port 80 may still reach port 443, and the other way round.
  std::vector<std::string> types = options_.challenges;
  if (!types.empty()) std::rotate(types.begin(), types.begin() + static_cast<long>(b.failures % types.size()), types.end());
  Log(LogLevel::kInfo, "acme: ordering a certificate",
      {{"host", want}, {"directory", options_.directory}, {"challenge", types.empty() ? "" : types[0]}});
  auto got = client_->Obtain({want}, types);
  auto info = got.ok() ? tls::Inspect(got->cert_pem, got->key_pem) : Result<tls::CertInfo>(got.error());
  if (!info.ok()) {
    b.delay_ms = b.delay_ms ? std::min(b.delay_ms * 2, kMaxBackoffMs) : kFirstBackoffMs;
    b.next_ms = MonoNowMillis() + b.delay_ms;
    ++b.failures;
    Log(LogLevel::kWarn, "acme: the order failed; trying again later",
        {{"host", want}, {"error", info.error().message}, {"retry_in_s", b.delay_ms / 1000}});
    return false;
  }
  backoff_.erase(want);
  std::vector<tls::CertRecord> all;
  uint64_t version = 0;
  Status stored = shared_->store->Write([&](store::Connection& c) -> Status {
    store::Statement st = c.Named("certs.insert");
    st.Bind(1, json(info->hosts).dump()).Bind(2, got->cert_pem).Bind(3, got->key_pem).Bind(4, std::string_view("acme"));
    st.Bind(5, info->issuer).Bind(6, info->not_after);
    if (Status s = st.Run(); !s.ok()) return s;
    version = ++shared_->cert_version;
    // The certificate it renews (same hosts, from ACME) is no longer needed.
    auto old = c.Prepare("DELETE FROM certs WHERE source = 'acme' AND hosts = ?1 AND id < ?2");
    if (!old.ok()) return old.error();
    if (Status s = old->Bind(1, json(info->hosts).dump()).Bind(2, static_cast<int64_t>(sqlite3_last_insert_rowid(c.raw()))).Run();
        !s.ok())
      return s;
    store::Statement a = c.Named("certs.all");
    Status s = OkStatus();
    while (a.Step(&s)) all.push_back({a.Int(0), std::string(a.Text(1)), std::string(a.Text(2))});
    return s;
  });
  if (!stored.ok()) {
    Log(LogLevel::kError, "acme: cannot store the certificate", {{"host", want}, {"error", stored.error().message}});
    auto& again = backoff_[want];
    again.delay_ms = kFirstBackoffMs;
    again.next_ms = MonoNowMillis() + again.delay_ms;
    return false;
  }
  if (shared_->tls) shared_->tls->Install(all, nullptr, version);
  shared_->generation.fetch_add(1, std::memory_order_release);
  Log(LogLevel::kInfo, "acme: certificate installed",
      {{"host", want}, {"issuer", info->issuer}, {"not_after", info->not_after}});
  return true;
}

}  // namespace hearth::sites
