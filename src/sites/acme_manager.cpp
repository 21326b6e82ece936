#include "sites/acme_manager.h"

#include <arpa/inet.h>
#include <sqlite3.h>

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

AcmeManager::AcmeManager(SitesShared* shared, tls::AcmeOptions options)
    : shared_(shared), options_(std::move(options)) {
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
  int64_t now = static_cast<int64_t>(time(nullptr));
  int64_t now_ms = MonoNowMillis();
  std::string want;
  for (const auto& host : hosts) {
    if (!Eligible(host)) continue;
    // The newest certificate covering it decides.
    const CertRow* best = nullptr;
    for (const auto& row : certs)
      for (const auto& p : row.hosts)
        if (tls::HostMatches(p, host) && (!best || row.created_at >= best->created_at)) best = &row;
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
    want = host;
    break;  // one order at a time
  }
  if (want.empty()) return;
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
  Log(LogLevel::kInfo, "acme: ordering a certificate", {{"host", want}, {"directory", options_.directory}});
  auto got = client_->Obtain({want});
  auto info = got.ok() ? tls::Inspect(got->cert_pem, got->key_pem) : Result<tls::CertInfo>(got.error());
  if (!info.ok()) {
    auto& b = backoff_[want];
    b.delay_ms = b.delay_ms ? std::min(b.delay_ms * 2, kMaxBackoffMs) : kFirstBackoffMs;
    b.next_ms = MonoNowMillis() + b.delay_ms;
    Log(LogLevel::kWarn, "acme: the order failed; trying again later",
        {{"host", want}, {"error", info.error().message}, {"retry_in_s", b.delay_ms / 1000}});
    return;
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
    return;
  }
  if (shared_->tls) shared_->tls->Install(all, nullptr, version);
  shared_->generation.fetch_add(1, std::memory_order_release);
  Log(LogLevel::kInfo, "acme: certificate installed",
      {{"host", want}, {"issuer", info->issuer}, {"not_after", info->not_after}});
  Poke();  // another host may be waiting
}

}  // namespace hearth::sites
