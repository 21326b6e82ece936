// The server's services but the workers (parts_workers.cpp). Their start
// order, and why:
//   data       the folder's lock first: nothing else may touch a folder
//              another hearth uses
//   listeners  every port taken before anything is written, so a taken port
//              fails fast and changes nothing
//   store      hearth.db (refused if a newer hearth wrote it), the app
//              databases, the admin token
//   jobs       the schedulers (short jobs; network jobs): after the store
//              (jobs use it, so they stop before the store does)
//   tls        certificates from the store, OCSP as a job
//   guard, proxy, sites (declared sites, control routes)
//   acme       after sites: it reads their hosts
//   workers    last of the request path: everything they call is up
//   stats      reads the workers' counters
//   backup     the periodic job
#include "server/parts.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/pem.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "api/tokens.h"
#include "base/log.h"
#include "base/strings.h"
#include "control/certs_api.h"
#include "server/api_routes.h"
#include "server/offline.h"
#include "server/server.h"
#include "server/site_mounts.h"
#include "store/backup.h"
#include "store/control_schema.h"
#include "tls/openssl_ptr.h"

namespace hearth {
namespace {

// How long a handshake for a name with no certificate may wait while one is
// made on demand (an ACME order usually takes a few seconds).
constexpr int64_t kOnDemandWaitMs = 20000;

void CloseAll(std::vector<int>* fds) {
  for (int& fd : *fds)
    if (fd >= 0) close(fd);
  fds->clear();
}

class DataFolder : public Service {
 public:
  explicit DataFolder(Parts* p) : p_(p) {}
  std::string_view name() const override { return "data"; }
  std::vector<std::string_view> settings() const override {
    return {"data", "access-log", "log-level"};
  }
  Status Start() override {
    const Settings& s = p_->settings;
    SetLogLevel(s.log_level);
    auto lock = LockDataDir(s.data);
    if (!lock.ok()) return lock.error();
    p_->lock_fd = *lock;
    if (auto st = p_->shared.access_log.Open(s.access_log); !st.ok()) {
      Stop();
      return st.error();
    }
    p_->shared.settings = s;
    return OkStatus();
  }
  void Stop() override {
    if (p_->lock_fd >= 0) close(p_->lock_fd);
    p_->lock_fd = -1;
  }

 private:
  Parts* p_;
};

// One listening socket per worker and protocol; the first resolves port 0 and
// the others join it with SO_REUSEPORT. The workers take them over.
class Listeners : public Service {
 public:
  explicit Listeners(Parts* p) : p_(p) {}
  std::string_view name() const override { return "listeners"; }
  std::vector<std::string_view> settings() const override { return {"http", "https", "workers"}; }
  Status Validate(const Settings& s) override {
    if (auto a = ParseListenAddress(s.http); !a.ok()) return Error{"http: " + a.error().message};
    if (!s.https.empty())
      if (auto a = ParseListenAddress(s.https); !a.ok())
        return Error{"https: " + a.error().message};
    return OkStatus();
  }
  Status Start() override {
    const Settings& s = p_->settings;
    auto bound = Bind(*ParseListenAddress(s.http), &p_->http_fds);
    if (!bound.ok()) return Fail(Error{"http: " + bound.error().message});
    p_->http_addr = *bound;
    p_->port = bound->Port();
    if (!s.https.empty()) {
      auto hbound = Bind(*ParseListenAddress(s.https), &p_->https_fds);
      if (!hbound.ok()) return Fail(Error{"https: " + hbound.error().message});
      p_->https_port = hbound->Port();
      p_->https_text = hbound->ToString();
    }
    return OkStatus();
  }
  void Stop() override {
    CloseAll(&p_->http_fds);
    CloseAll(&p_->https_fds);
  }

 private:
  Result<SocketAddress> Bind(const SocketAddress& want, std::vector<int>* fds) {
    auto reserved = ReserveAddress(want);
    if (!reserved.ok()) return reserved.error();
    for (int i = 0; i < p_->nworkers; ++i) {
      auto fd = ListenReusePort(*reserved, 4096);
      if (!fd.ok()) return fd.error();
      fds->push_back(*fd);
    }
    return *reserved;
  }
  Error Fail(Error e) {
    Stop();
    return e;
  }
  Parts* p_;
};

// hearth.db (the control plane), the sites' app databases and the admin token.
class StoreService_ : public Service {
 public:
  explicit StoreService_(Parts* p) : p_(p) {}
  std::string_view name() const override { return "store"; }
  Status Start() override {
    const Settings& s = p_->settings;
    store::Store::Options so;
    so.path = s.data + "/hearth.db";
    so.readers = p_->nworkers;
    so.migrations = store::ControlMigrations();
    so.name = "hearth.db";
    so.uncaptured = {"blobs", "blob_variants"};  // deploy bytes travel as blob ops
    so.stream = p_->stream;
    so.statements = store::ControlStatements();
    so.connection_setup = store::ControlConnectionSetup();
    auto opened = store::Store::Open(std::move(so));
    if (!opened.ok()) return opened.error();
    p_->store = std::move(opened).value();
    p_->apps = std::make_unique<data::Apps>(s.data + "/apps", p_->nworkers, p_->stream);
    auto token = api::EnsureAdminToken(*p_->store, s.data);
    if (!token.ok()) {
      Stop();
      return token.error();
    }
    if (!token->empty()) {
      // Shown once, on stdout (not in the logs); the CLI on this machine reads the file.
      printf("hearth: admin token (shown once; saved to %s/admin.token):\n  %s\n", s.data.c_str(),
             token->c_str());
      fflush(stdout);
      Log(LogLevel::kInfo, "created the admin token", {{"file", s.data + "/admin.token"}});
    }
    return OkStatus();
  }
  // The stores' writer threads finish their queues now, while what their
  // completions touch (the sites, the TLS set, ACME) still exists.
  void Stop() override {
    p_->apps.reset();
    p_->store.reset();
  }
  std::vector<BackupSource> BackupSources() const override {
    const std::string& data = p_->settings.data;
    std::vector<BackupSource> out{{BackupSource::Kind::kDatabase, data + "/hearth.db"}};
    for (const auto& app : store::AppDatabases(data))
      out.push_back({BackupSource::Kind::kDatabase, app.path});
    out.push_back({BackupSource::Kind::kFolder, data + "/files"});
    return out;
  }

 private:
  Parts* p_;
};

class Jobs : public Service {
 public:
  explicit Jobs(Parts* p) : p_(p) {}
  std::string_view name() const override { return "jobs"; }
  Status Start() override {
    p_->jobs = std::make_unique<Scheduler>("hearth-jobs", 2);
    p_->net = std::make_unique<Scheduler>("hearth-net", 2);
    return OkStatus();
  }
  void Stop() override {  // the runs in progress finish
    p_->net->Stop();
    p_->jobs->Stop();
  }

 private:
  Parts* p_;
};

// The ACME options from the settings (checked in Validate, used in Start).
Result<tls::AcmeOptions> AcmeOptionsOf(const Settings& s) {
  tls::AcmeOptions ao;
  ao.directory = s.acme_directory;
  ao.email = s.acme_email;
  ao.ca_root = s.acme_ca_root;
  ao.challenges.clear();
  std::string_view list = s.acme_challenges;
  while (!list.empty()) {
    size_t comma = list.find(',');
    std::string_view type = TrimOws(list.substr(0, comma));
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
    if (type != tls::kHttp01 && type != tls::kTlsAlpn01)
      return Error{"--acme-challenges: \"" + std::string(type) +
                   "\" is not a challenge type (http-01, tls-alpn-01)"};
    if (std::find(ao.challenges.begin(), ao.challenges.end(), type) == ao.challenges.end())
      ao.challenges.emplace_back(type);
  }
  if (ao.challenges.empty())
    return Error{"--acme-challenges: name at least one challenge type (http-01, tls-alpn-01)"};
  if (!s.acme_ask.empty() && s.acme_ask.rfind("http://", 0) != 0 &&
      s.acme_ask.rfind("https://", 0) != 0)
    return Error{"--acme-ask: \"" + s.acme_ask + "\" is not an http:// or https:// URL"};
  if (!s.acme_ca_root.empty()) {
    // Read now, so a wrong path is a failed start, not a failed renewal weeks later.
    tls::Ptr<BIO> bio(BIO_new_file(s.acme_ca_root.c_str(), "r"));
    if (!bio) return Error{"--acme-ca-root: cannot read " + s.acme_ca_root};
    tls::Ptr<X509> cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (!cert) return Error{"--acme-ca-root: " + s.acme_ca_root + " holds no PEM certificate"};
  }
  return ao;
}

// Certificates by SNI from hearth.db, OCSP stapling, the local CA.
class Tls : public Service {
 public:
  explicit Tls(Parts* p) : p_(p) {}
  std::string_view name() const override { return "tls"; }
  std::vector<std::string_view> settings() const override { return {"https"}; }
  Status Start() override {
    auto t = tls::TlsServer::Create();
    if (!t.ok()) return t.error();
    p_->tls = std::move(t).value();
    store::Store& store = *p_->store;
    // The workers have not started: reader 0 is free to use here.
    std::vector<tls::CertRecord> certs;
    store::Statement st = store.Reader(0).Named("certs.all");
    Status ss = OkStatus();
    while (st.Step(&ss))
      certs.push_back({st.Int(0), std::string(st.Text(1)), std::string(st.Text(2))});
    std::vector<std::string> problems;
    p_->tls->Install(certs, &problems);
    p_->tls->StartOcsp(p_->net.get());  // fetches wait on responders
    std::string ca_cert, ca_key;
    for (auto [key, out] : {std::pair<const char*, std::string*>{"local_ca_cert", &ca_cert},
                            {"local_ca_key", &ca_key}}) {
      store::Statement m = store.Reader(0).Named("meta.get");
      m.Bind(1, std::string_view(key));
      if (m.Step(&ss)) *out = std::string(m.Text(0));
    }
    if (!ca_cert.empty() && !ca_key.empty())
      p_->tls->SetLocalCa(std::make_shared<tls::KeyPair>(tls::KeyPair{ca_cert, ca_key}));
    for (const auto& p : problems) Log(LogLevel::kWarn, "certificate skipped", {{"why", p}});
    p_->control.tls = p_->tls.get();
    SetHttpsGate(&p_->sites.gates, p_->tls.get(), p_->https_port);
    return OkStatus();
  }
  void Stop() override { p_->tls->StopOcsp(); }  // a fetch in progress gives up

 private:
  Parts* p_;
};

// Certificates from an ACME CA for the sites' hosts, and on demand.
class Acme : public Service {
 public:
  explicit Acme(Parts* p) : p_(p) {}
  std::string_view name() const override { return "acme"; }
  std::vector<std::string_view> settings() const override {
    return {"acme-email", "acme-directory", "acme-challenges", "acme-ask", "acme-ca-root"};
  }
  Status Validate(const Settings& s) override {
    auto ao = AcmeOptionsOf(s);
    if (!ao.ok()) return ao.error();
    options_ = std::move(ao).value();
    return OkStatus();
  }
  Status Start() override {
    const Settings& s = p_->settings;
    SetAcmeGate(&p_->sites.gates, &p_->acme_challenges);
    p_->control.acme_challenges = &p_->acme_challenges;
    p_->acme =
        std::make_unique<control::AcmeManager>(&p_->control, options_, s.acme_ask, kOnDemandWaitMs);
    control::AcmeManager* acme = p_->acme.get();
    p_->tls->SetChallenges(&p_->acme_challenges);
    p_->tls->SetOnDemand(acme, kOnDemandWaitMs);
    p_->sites.on_routing_changed = [acme] { acme->Poke(); };
    acme->Start();
    return OkStatus();
  }
  // An order in progress gives up; the object stays (freed with Parts) for
  // late Poke()s from the store's last completions.
  void Stop() override { p_->acme->Stop(); }

 private:
  Parts* p_;
  tls::AcmeOptions options_;
};

guard::Policy GuardPolicy(const Settings& s) {
  guard::Policy p;
  // The texts were checked when the settings were loaded.
  if (auto l = guard::CidrList::Parse(s.allow); l.ok()) p.allow = std::move(l).value();
  if (auto l = guard::CidrList::Parse(s.deny); l.ok()) p.deny = std::move(l).value();
  if (auto l = guard::CidrList::Parse(s.trusted_proxies); l.ok()) p.trusted = std::move(l).value();
  p.forwarded_header = s.client_ip_header == "forwarded";
  p.rate = static_cast<double>(s.rate_limit);
  p.burst = static_cast<double>(s.rate_burst);
  p.max_conns_per_ip = s.max_connections_per_ip;
  p.min_body_rate = s.min_body_rate;
  p.max_in_flight = s.admission_max;
  p.max_queued = s.admission_queue;
  p.max_wait_ms = s.admission_wait_ms;
  return p;
}

class GuardPart : public Service {
 public:
  explicit GuardPart(Parts* p) : p_(p) {}
  std::string_view name() const override { return "guard"; }
  std::vector<std::string_view> settings() const override {
    return {"allow",
            "deny",
            "trusted-proxies",
            "client-ip-header",
            "rate-limit",
            "rate-burst",
            "max-connections-per-ip",
            "min-body-rate",
            "admission-max",
            "admission-queue",
            "admission-wait"};
  }
  Status Start() override {
    p_->guard = std::make_unique<guard::Guard>();
    p_->guard->SetPolicy(GuardPolicy(p_->settings));
    p_->shared.guard = p_->guard.get();
    SetRateLimitGate(&p_->sites.gates, p_->guard.get());
    return OkStatus();
  }
  void Stop() override {}
  void Reload(const Settings& next) override { p_->guard->SetPolicy(GuardPolicy(next)); }
  std::string Metrics() const override {
    std::string out =
        "# HELP hearth_guard_refusals_total Connections and requests refused or cut by the "
        "guard, by reason.\n"
        "# TYPE hearth_guard_refusals_total counter\n";
    for (int r = 0; r < static_cast<int>(guard::Reason::kCount); ++r)
      out += std::string("hearth_guard_refusals_total{reason=\"") +
             guard::ReasonName(static_cast<guard::Reason>(r)) + "\"} " +
             std::to_string(p_->guard->refusals(static_cast<guard::Reason>(r))) + "\n";
    return out;
  }

 private:
  Parts* p_;
};

class ProxyPart : public Service {
 public:
  explicit ProxyPart(Parts* p) : p_(p) {}
  std::string_view name() const override { return "proxy"; }
  Status Start() override {
    p_->proxies = std::make_unique<proxy::Registry>(p_->net.get());  // checks wait on upstreams
    p_->sites.check_proxy = CheckProxySettings;
    return OkStatus();
  }
  // The health-check job is cancelled when the registry is freed.
  void Stop() override {}
  std::string Metrics() const override {
    uint64_t requests = 0, retries = 0, bad_gateway = 0, timeout = 0, connections = 0;
    for (const proxy::Forwarder* f : p_->forwarders) {
      const proxy::ProxyCounters& c = f->counters();
      requests += c.requests.load(std::memory_order_relaxed);
      retries += c.retries.load(std::memory_order_relaxed);
      bad_gateway += c.bad_gateway.load(std::memory_order_relaxed);
      timeout += c.gateway_timeout.load(std::memory_order_relaxed);
      connections += c.connections.load(std::memory_order_relaxed);
    }
    char buf[1024];
    snprintf(buf, sizeof buf,
             "# HELP hearth_proxy_requests_total Requests forwarded to upstreams.\n"
             "# TYPE hearth_proxy_requests_total counter\nhearth_proxy_requests_total %llu\n"
             "# HELP hearth_proxy_retries_total Attempts on another upstream (or connection) "
             "after a failed one.\n"
             "# TYPE hearth_proxy_retries_total counter\nhearth_proxy_retries_total %llu\n"
             "# HELP hearth_proxy_errors_total Proxied requests answered by hearth for want of "
             "an upstream answer.\n"
             "# TYPE hearth_proxy_errors_total counter\n"
             "hearth_proxy_errors_total{status=\"502\"} %llu\n"
             "hearth_proxy_errors_total{status=\"504\"} %llu\n"
             "# HELP hearth_proxy_upstream_connections_total Connections opened to upstreams.\n"
             "# TYPE hearth_proxy_upstream_connections_total counter\n"
             "hearth_proxy_upstream_connections_total %llu\n",
             static_cast<unsigned long long>(requests), static_cast<unsigned long long>(retries),
             static_cast<unsigned long long>(bad_gateway), static_cast<unsigned long long>(timeout),
             static_cast<unsigned long long>(connections));
    return buf;
  }

 private:
  Parts* p_;
};

// Sites: what they need from the store, the sites the config file declares,
// and every part's control API routes.
class SitesPart : public Service {
 public:
  explicit SitesPart(Parts* p) : p_(p) {}
  std::string_view name() const override { return "sites"; }
  std::vector<std::string_view> settings() const override {
    return {"admin-host", "keep-versions", "max-body-size", "api-max-json-size", "site"};
  }
  Status Validate(const Settings& s) override {
    if (s.admin_host.find_first_of(":/ \t") != std::string::npos)
      return Error{"--admin-host: \"" + s.admin_host +
                   "\" is not a host name (no port, no scheme)"};
    return OkStatus();
  }
  Status Start() override {
    const Settings& s = p_->settings;
    store::Store* store = p_->store.get();
    p_->sites.store = store;
    p_->control.store = store;
    p_->control.background = &p_->sites.background;
    p_->control.certs_changed = [sites = &p_->sites] { sites::RoutingChanged(sites); };
    // The effects of committed changes to hearth.db, whoever wrote them (this
    // node or an entry applied from another), registered before the sites'
    // first write below: what hosts serve, the certificates served.
    sites::ObserveRouting(&p_->sites, store);
    control::ObserveCerts(&p_->control, store);
    p_->sites.max_blob_size = s.max_body_size;
    p_->data_options = std::make_shared<data::DataOptions>();
    p_->data_options->max_json_bytes = s.api_max_json_size;
    p_->sites.spool_dir = s.data;
    // Only an admin-scope token is a superuser of the sites' data APIs: a read
    // or deploy token is an ordinary (anonymous) client there.
    p_->data_options->is_superuser = [store](int reader, std::string_view auth) {
      return api::IsAdminToken(store, reader, auth);
    };
    // The console's own host is its own origin: the default site does not take it.
    p_->sites.admin_host = s.admin_host;
    p_->sites.keep_versions.store(s.keep_versions);
    // Sites the config file declares (proxied apps, mostly): made to match it.
    for (const DeclaredSite& d : s.sites)
      if (Status st = sites::DeclareSite(&p_->sites, d.name, d.hosts, d.proxy_json, d.rate_limit,
                                         d.rate_burst);
          !st.ok())
        return Error{"config: site " + d.name + ": " + st.error().message};
    return AddApiRoutes(&p_->api_routes, &p_->sites, p_->apps.get(), &p_->control);
  }
  // Compressions and password hashes still queued finish now, while the
  // store they write to runs (it stops after the sites).
  void Stop() override { p_->sites.background.Stop(); }
  void Reload(const Settings& next) override {
    p_->sites.keep_versions.store(next.keep_versions);
    for (const DeclaredSite& d : next.sites)
      if (Status st = sites::DeclareSite(&p_->sites, d.name, d.hosts, d.proxy_json, d.rate_limit,
                                         d.rate_burst);
          !st.ok())
        Log(LogLevel::kError, "reload: a declared site could not be applied",
            {{"site", d.name}, {"error", st.error().message}});
  }

 private:
  Parts* p_;
};

// The console's traffic figures: a sample of the workers' counters a second.
class Stats : public Service {
 public:
  explicit Stats(Parts* p) : p_(p) {}
  std::string_view name() const override { return "stats"; }
  Status Start() override {
    admin::TrafficStats* stats = p_->stats.get();
    stats->Take();  // the first point at once
    job_ = p_->jobs->Every("stats", 1000, [stats] { stats->Take(); });
    return OkStatus();
  }
  void Stop() override {
    if (job_) p_->jobs->Cancel(job_);
    job_ = 0;
  }

 private:
  Parts* p_;
  uint64_t job_ = 0;
};

// Periodic backups into DATA/backups, the newest `backup-keep` kept.
class Backup : public Service {
 public:
  explicit Backup(Parts* p) : p_(p) {}
  std::string_view name() const override { return "backup"; }
  std::vector<std::string_view> settings() const override {
    return {"backup-every", "backup-keep"};
  }
  // A backup of a large folder takes minutes: it gets a thread of its own
  // (a scheduler of one), so it never holds the shared jobs' threads.
  Status Start() override {
    if (p_->settings.backup_every_ms > 0) {
      runner_ = std::make_unique<Scheduler>("hearth-backup", 1);
      runner_->Every("backup", p_->settings.backup_every_ms, [this] { Once(); });
    }
    return OkStatus();
  }
  void Stop() override {
    if (runner_) runner_->Stop();  // waits for a backup in progress
    runner_.reset();
  }

 private:
  void Once() {
    const std::string& data = p_->settings.data;
    const std::string dir = data + "/backups";
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    char name[64];
    time_t now = time(nullptr);
    tm g;
    gmtime_r(&now, &g);
    strftime(name, sizeof name, "hearth-%Y%m%d-%H%M%S.db", &g);
    std::string out = dir + "/" + name;
    Status st = BackupFolder(data, out);
    if (!st.ok()) {
      Log(LogLevel::kError, "backup failed", {{"error", st.error().message}});
      return;
    }
    Log(LogLevel::kInfo, "backup written", {{"file", out}});
    std::vector<std::string> backups;
    for (const auto& e : std::filesystem::directory_iterator(dir, ec))
      if (e.path().extension() == ".db" && e.path().filename().string().rfind("hearth-", 0) == 0)
        backups.push_back(e.path().string());
    std::sort(backups.begin(), backups.end());  // names sort by time
    int64_t keep;
    {
      std::lock_guard<std::mutex> lock(p_->shared.settings_mu);
      keep = p_->shared.settings.backup_keep;
    }
    for (size_t i = 0; i + static_cast<size_t>(keep) < backups.size(); ++i)
      std::filesystem::remove(backups[i], ec);
  }
  Parts* p_;
  std::unique_ptr<Scheduler> runner_;
};

}  // namespace

Parts::~Parts() {
  for (int fd : http_fds)
    if (fd >= 0) close(fd);
  for (int fd : https_fds)
    if (fd >= 0) close(fd);
  for (const ProtocolListener& l : protocols)
    for (int fd : l.fds)
      if (fd >= 0) close(fd);
  if (lock_fd >= 0) close(lock_fd);
}

std::unique_ptr<Service> DataFolderService(Parts* p) {
  return std::make_unique<DataFolder>(p);
}
std::unique_ptr<Service> ListenersService(Parts* p) {
  return std::make_unique<Listeners>(p);
}
std::unique_ptr<Service> StoreService(Parts* p) {
  return std::make_unique<StoreService_>(p);
}
std::unique_ptr<Service> JobsService(Parts* p) {
  return std::make_unique<Jobs>(p);
}
std::unique_ptr<Service> TlsService(Parts* p) {
  return std::make_unique<Tls>(p);
}
std::unique_ptr<Service> GuardService(Parts* p) {
  return std::make_unique<GuardPart>(p);
}
std::unique_ptr<Service> ProxyService(Parts* p) {
  return std::make_unique<ProxyPart>(p);
}
std::unique_ptr<Service> SitesService(Parts* p) {
  return std::make_unique<SitesPart>(p);
}
std::unique_ptr<Service> AcmeService(Parts* p) {
  return std::make_unique<Acme>(p);
}
std::unique_ptr<Service> StatsService(Parts* p) {
  return std::make_unique<Stats>(p);
}
std::unique_ptr<Service> BackupService(Parts* p) {
  return std::make_unique<Backup>(p);
}

}  // namespace hearth
