#include "server/server.h"

#include "admin/admin.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <thread>

#include "base/clock.h"
#include "base/log.h"
#include "base/strings.h"
#include "base/version.h"
#include "files/file_handler.h"
#include "io/socket.h"
#include "api/tokens.h"
#include "server/api_routes.h"
#include "server/site_mounts.h"
#include "guard/admission.h"
#include "store/backup.h"
#include "store/control_schema.h"

extern char** environ;

namespace hearth {
namespace {

// How long a handshake for a name with no certificate may wait while one is
// made on demand (an ACME order usually takes a few seconds).
constexpr int64_t kOnDemandWaitMs = 20000;

int CpuCount() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
  unsigned n = std::thread::hardware_concurrency();
  return n ? static_cast<int>(n) : 1;
}

}  // namespace

Result<int> LockDataDir(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Error{"cannot create data folder \"" + dir + "\": " + ec.message()};
  std::string path = dir + "/hearth.lock";
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return Error{"cannot open " + path + ": " + strerror(errno)};
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    char pid[32] = "";
    ssize_t n = pread(fd, pid, sizeof pid - 1, 0);
    if (n > 0) pid[n] = '\0';
    close(fd);
    std::string p(pid);
    while (!p.empty() && (p.back() == '\n' || p.back() == ' ')) p.pop_back();
    return Error{"data folder \"" + dir + "\" is in use by another hearth" +
                 (p.empty() ? std::string() : " (pid " + p + ")")};
  }
  std::string me = std::to_string(getpid()) + "\n";
  if (ftruncate(fd, 0) == 0) {
    ssize_t w = pwrite(fd, me.data(), me.size(), 0);
    (void)w;
  }
  return fd;
}

namespace {

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

// The client's address (from a trusted proxy's fields) and the global
// per-address rate. hearth's own /_hearth/ routes are not counted: health
// checks and scrapers must get through an attack.
Middleware GuardRequests(guard::Guard* g) {
  return [g](Request& req, Response& res, const Handler& next) {
    g->ResolveClient(req);
    if (!g->AdmitClient(req)) {
      res.SetError(403, "this address may not use this server");
      return;
    }
    int64_t retry = 0;
    if (req.path.substr(0, 9) != "/_hearth/" && !g->TakeToken(req, MonoNowMillis(), &retry)) {
      guard::RespondTooMany(res, retry, "too many requests from this address; slow down");
      return;
    }
    next(req, res);
  };
}

// OPTIONS * and TRACE are answered here, before any route sees them.
void MethodGuard(Request& req, Response& res, const Handler& next) {
  if (req.method == Method::kTrace) {
    res.SetError(405);
    res.SetHeader("Allow", "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS");
    return;
  }
  if (req.method == Method::kOptions && req.path == "*") {
    res.status = 204;
    res.SetHeader("Allow", "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS");
    return;
  }
  next(req, res);
}

}  // namespace

void Server::BlockSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

Result<std::unique_ptr<Server>> Server::Start(ServeOptions options) {
  std::unique_ptr<Server> srv(new Server());
  srv->jobs_ = std::make_unique<Scheduler>("hearth-jobs", 2);
  srv->options_ = std::move(options);
  const Settings& s = srv->options_.settings;
  if (s.admin_host.find_first_of(":/ \t") != std::string::npos)
    return Error{"--admin-host: \"" + s.admin_host + "\" is not a host name (no port, no scheme)"};
  SetLogLevel(s.log_level);

  auto lock = LockDataDir(s.data);
  if (!lock.ok()) return lock.error();
  srv->lock_fd_ = *lock;

  if (auto st = srv->shared_.access_log.Open(s.access_log); !st.ok()) return st.error();
  srv->shared_.settings = s;

  auto addr = ParseListenAddress(s.http);
  if (!addr.ok()) return Error{"http: " + addr.error().message};
  int nworkers = s.workers > 0 ? static_cast<int>(s.workers) : CpuCount();

  if (!s.root.empty()) {
    struct stat st;
    if (stat(s.root.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
      return Error{"root \"" + s.root + "\" is not a folder"};
  }

  // The first listener resolves port 0; the others join it with SO_REUSEPORT.
  std::vector<int> fds;
  auto reserved = ReserveAddress(*addr);
  if (!reserved.ok()) return reserved.error();
  SocketAddress bind_addr = *reserved;

  // The control plane. A data folder from a newer hearth is refused here.
  store::Store::Options so;
  so.path = s.data + "/hearth.db";
  so.readers = nworkers;
  so.migrations = store::ControlMigrations();
  so.statements = store::ControlStatements();
  so.connection_setup = store::ControlConnectionSetup();
  auto opened = store::Store::Open(std::move(so));
  if (!opened.ok()) return opened.error();
  srv->store_ = std::move(opened).value();
  srv->sites_.store = srv->store_.get();
  srv->control_.store = srv->store_.get();
  srv->control_.background = &srv->sites_.background;
  srv->control_.certs_changed = [sites = &srv->sites_] { sites::RoutingChanged(sites); };
  srv->control_.certs_renewed = [sites = &srv->sites_] {
    sites->generation.fetch_add(1, std::memory_order_release);
  };
  srv->sites_.max_blob_size = s.max_body_size;
  auto data_options = std::make_shared<data::DataOptions>();
  data_options->max_json_bytes = s.api_max_json_size;
  srv->sites_.spool_dir = s.data;
  srv->apps_ = std::make_unique<data::Apps>(s.data + "/apps", nworkers);
  // Only an admin-scope token is a superuser of the sites' data APIs: a read
  // or deploy token is an ordinary (anonymous) client there.
  data_options->is_superuser = [store = srv->store_.get()](int reader, std::string_view auth) {
    return api::IsAdminToken(store, reader, auth);
  };
  // The console's own host is its own origin: the default site does not take it.
  srv->sites_.admin_host = s.admin_host;
  srv->sites_.keep_versions.store(s.keep_versions);
  auto token = api::EnsureAdminToken(*srv->store_, s.data);
  if (!token.ok()) return token.error();
  if (!token->empty()) {
    // Shown once, on stdout (not in the logs); the CLI on this machine reads the file.
    printf("hearth: admin token (shown once; saved to %s/admin.token):\n  %s\n", s.data.c_str(), token->c_str());
    fflush(stdout);
    Log(LogLevel::kInfo, "created the admin token", {{"file", s.data + "/admin.token"}});
  }

  for (int i = 0; i < nworkers; ++i) {
    auto fd = ListenReusePort(bind_addr, 4096);
    if (!fd.ok()) {
      for (int f : fds) close(f);
      return fd.error();
    }
    fds.push_back(*fd);
  }
  srv->port_ = bind_addr.Port();

  // HTTPS: its own listeners, and the certificates in hearth.db.
  std::vector<int> tls_fds;
  std::string https_text;
  if (!s.https.empty()) {
    auto haddr = ParseListenAddress(s.https);
    if (!haddr.ok()) return Error{"https: " + haddr.error().message};
    auto hreserved = ReserveAddress(*haddr);
    if (!hreserved.ok()) {
      for (int f : fds) close(f);
      return Error{"https: " + hreserved.error().message};
    }
    for (int i = 0; i < nworkers; ++i) {
      auto fd = ListenReusePort(*hreserved, 4096);
      if (!fd.ok()) {
        for (int f : fds) close(f);
        for (int f : tls_fds) close(f);
        return fd.error();
      }
      tls_fds.push_back(*fd);
    }
    auto t = tls::TlsServer::Create();
    if (!t.ok()) return t.error();
    srv->tls_ = std::move(t).value();
    // The workers have not started: reader 0 is free to use here.
    std::vector<tls::CertRecord> certs;
    store::Statement st = srv->store_->Reader(0).Named("certs.all");
    Status ss = OkStatus();
    while (st.Step(&ss)) certs.push_back({st.Int(0), std::string(st.Text(1)), std::string(st.Text(2))});
    std::vector<std::string> problems;
    srv->tls_->Install(certs, &problems);
    srv->tls_->StartOcsp(srv->jobs_.get());
    std::string ca_cert, ca_key;
    for (auto [key, out] : {std::pair<const char*, std::string*>{"local_ca_cert", &ca_cert}, {"local_ca_key", &ca_key}}) {
      store::Statement m = srv->store_->Reader(0).Named("meta.get");
      m.Bind(1, std::string_view(key));
      if (m.Step(&ss)) *out = std::string(m.Text(0));
    }
    if (!ca_cert.empty() && !ca_key.empty())
      srv->tls_->SetLocalCa(std::make_shared<tls::KeyPair>(tls::KeyPair{ca_cert, ca_key}));
    for (const auto& p : problems) Log(LogLevel::kWarn, "certificate skipped", {{"why", p}});
    srv->control_.tls = srv->tls_.get();
    SetHttpsGate(&srv->sites_.gates, srv->tls_.get(), hreserved->Port());
    if (!s.acme_email.empty()) {
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
          return Error{"--acme-challenges: \"" + std::string(type) + "\" is not a challenge type (http-01, tls-alpn-01)"};
        if (std::find(ao.challenges.begin(), ao.challenges.end(), type) == ao.challenges.end())
          ao.challenges.emplace_back(type);
      }
      if (ao.challenges.empty())
        return Error{"--acme-challenges: name at least one challenge type (http-01, tls-alpn-01)"};
      if (!s.acme_ask.empty() && s.acme_ask.rfind("http://", 0) != 0 && s.acme_ask.rfind("https://", 0) != 0)
        return Error{"--acme-ask: \"" + s.acme_ask + "\" is not an http:// or https:// URL"};
      SetAcmeGate(&srv->sites_.gates, &srv->acme_challenges_);
      srv->control_.acme_challenges = &srv->acme_challenges_;
      srv->acme_ = std::make_unique<control::AcmeManager>(&srv->control_, ao, s.acme_ask, kOnDemandWaitMs);
      control::AcmeManager* acme = srv->acme_.get();
      srv->tls_->SetChallenges(&srv->acme_challenges_);
      srv->tls_->SetOnDemand(acme, kOnDemandWaitMs);
      srv->sites_.on_routing_changed = [acme] { acme->Poke(); };
    }
    srv->https_port_ = hreserved->Port();
    https_text = hreserved->ToString();
  }

  srv->builtin_.start_mono_ms = MonoNowMillis();
  srv->builtin_.workers = nworkers;
  srv->builtin_.test_endpoints = getenv("HEARTH_TEST_ENDPOINTS") && std::string(getenv("HEARTH_TEST_ENDPOINTS")) == "1";
  Server* raw = srv.get();
  srv->builtin_.metrics = [raw] {
    std::vector<const WorkerMetrics*> out;
    for (auto& w : raw->workers_) out.push_back(&w->metrics());
    return out;
  };
  srv->builtin_.open_connections = [raw] { return raw->shared_.open_connections.load(); };
  srv->stats_ = std::make_unique<admin::TrafficStats>([raw] {
    admin::TrafficStats::Totals t;
    for (auto& w : raw->workers_) {
      const WorkerMetrics& m = w->metrics();
      for (const Counter& c : m.requests_by_class) t.requests += c.Get();
      t.errors += m.requests_by_class[5].Get();
    }
    return t;
  });
  srv->builtin_.more_metrics = [raw] {
    uint64_t requests = 0, retries = 0, bad_gateway = 0, timeout = 0, connections = 0;
    for (const proxy::Forwarder* f : raw->forwarders_) {
      const proxy::ProxyCounters& c = f->counters();
      requests += c.requests.load(std::memory_order_relaxed);
      retries += c.retries.load(std::memory_order_relaxed);
      bad_gateway += c.bad_gateway.load(std::memory_order_relaxed);
      timeout += c.gateway_timeout.load(std::memory_order_relaxed);
      connections += c.connections.load(std::memory_order_relaxed);
    }
    std::string guard_lines =
        "# HELP hearth_guard_refusals_total Connections and requests refused or cut by the guard, by reason.\n"
        "# TYPE hearth_guard_refusals_total counter\n";
    for (int r = 0; r < static_cast<int>(guard::Reason::kCount); ++r)
      guard_lines += std::string("hearth_guard_refusals_total{reason=\"") + guard::ReasonName(static_cast<guard::Reason>(r)) +
                     "\"} " + std::to_string(raw->guard_->refusals(static_cast<guard::Reason>(r))) + "\n";
    char buf[1024];
    snprintf(buf, sizeof buf,
             "# HELP hearth_proxy_requests_total Requests forwarded to upstreams.\n"
             "# TYPE hearth_proxy_requests_total counter\nhearth_proxy_requests_total %llu\n"
             "# HELP hearth_proxy_retries_total Attempts on another upstream (or connection) after a failed one.\n"
             "# TYPE hearth_proxy_retries_total counter\nhearth_proxy_retries_total %llu\n"
             "# HELP hearth_proxy_errors_total Proxied requests answered by hearth for want of an upstream answer.\n"
             "# TYPE hearth_proxy_errors_total counter\n"
             "hearth_proxy_errors_total{status=\"502\"} %llu\nhearth_proxy_errors_total{status=\"504\"} %llu\n"
             "# HELP hearth_proxy_upstream_connections_total Connections opened to upstreams.\n"
             "# TYPE hearth_proxy_upstream_connections_total counter\nhearth_proxy_upstream_connections_total %llu\n",
             static_cast<unsigned long long>(requests), static_cast<unsigned long long>(retries),
             static_cast<unsigned long long>(bad_gateway), static_cast<unsigned long long>(timeout),
             static_cast<unsigned long long>(connections));
    return std::string(buf) + guard_lines;
  };
  srv->builtin_.schema_version = srv->store_->schema_version();
  srv->builtin_.metrics_public = s.metrics_public;
  srv->builtin_.authorize = [store = srv->store_.get()](const Request& req, int reader, std::string* why) {
    return api::AuthorizeRequest(store, reader, req, why);
  };
  srv->builtin_.refuse = api::RefuseRequest;

  // Sites the config file declares (proxied apps, mostly): made to match it.
  for (const DeclaredSite& d : s.sites)
    if (Status st = sites::DeclareSite(&srv->sites_, d.name, d.hosts, d.proxy_json, d.rate_limit, d.rate_burst);
        !st.ok())
      return Error{"config: site " + d.name + ": " + st.error().message};
  srv->guard_ = std::make_unique<guard::Guard>();
  srv->guard_->SetPolicy(GuardPolicy(s));
  srv->shared_.guard = srv->guard_.get();
  SetRateLimitGate(&srv->sites_.gates, srv->guard_.get());
  srv->proxies_ = std::make_unique<proxy::Registry>(srv->jobs_.get());
  srv->sites_.check_proxy = CheckProxySettings;
  if (Status st = AddApiRoutes(&srv->api_routes_, &srv->sites_, srv->apps_.get(), &srv->control_); !st.ok())
    return st.error();
  for (int i = 0; i < nworkers; ++i) {
    // The worker first: the proxy's half lives on its loop.
    auto worker = std::make_unique<Worker>(i, &srv->shared_);
    worker->AddListener(fds[static_cast<size_t>(i)], nullptr, worker->HttpSessions());
    auto forwarder = std::make_shared<proxy::Forwarder>(worker.get());
    auto admission = std::make_shared<guard::Admission>(worker.get(), srv->guard_.get());
    srv->forwarders_.push_back(forwarder.get());
    auto router = std::make_shared<Router>();
    AddBuiltinRoutes(router.get(), &srv->builtin_, srv->store_.get(), i);
    // The control API: each part's routes; the console calls them in-process.
    Handler routes = api::MakeRouteHandler(&srv->api_routes_, i);
    Handler api = Compose({api::RequireToken(srv->store_.get(), i)}, routes);
    router->Add("", "/_hearth/api/", api);
    admin::AddAdminRoutes(router.get(), &srv->sites_, srv->apps_.get(), i, routes,
                          srv->stats_.get(), s.admin_host);  // the console
    for (const std::string& prefix : srv->api_routes_.StreamedPrefixes())
      router->Add("", prefix, api, /*stream_body=*/true);  // uploads of any size
    Handler fallback = ServeWelcome;
    if (!s.root.empty()) {
      FileHandlerOptions fo;
      fo.root = s.root;
      fo.cache_bytes = s.file_cache_size;
      auto fh = FileHandler::Create(fo);
      if (!fh.ok()) {
        // This worker and those made so far close their own listeners.
        for (size_t j = static_cast<size_t>(i) + 1; j < fds.size(); ++j) close(fds[j]);
        return fh.error();
      }
      std::shared_ptr<FileHandler> handler(std::move(fh).value());
      fallback = [handler](Request& req, Response& res) { handler->Serve(req, res); };
    }
    // Sites claim their hosts; any other host gets --root or the welcome page.
    auto mounts =
        SiteMounts(srv->proxies_.get(), forwarder.get(), srv->apps_.get(), data_options, i);
    for (const auto& m : mounts)
      if (std::string why = sites::MountProblem(m); !why.empty()) {
        for (size_t j = static_cast<size_t>(i) + 1; j < fds.size(); ++j) close(fds[j]);
        return Error{why};
      }
    sites::SiteHandler::Admit admit = [admission](Request& req, Response& res, const Handler& h) {
      admission->Run(req, res, h);
    };
    auto site_handler = std::make_shared<sites::SiteHandler>(&srv->sites_, i, std::move(fallback), std::move(mounts),
                                                             std::move(admit));
    router->Add("", "/", [site_handler, forwarder, admission](Request& req, Response& res) {
      site_handler->Serve(req, res);
    });
    Handler root = Compose({MethodGuard, GuardRequests(srv->guard_.get())},
                           [router](Request& req, Response& res) { router->Serve(req, res); });
    // Proxied requests stream their bodies upstream as they arrive.
    auto streams = [router, site_handler](const Request& req) {
      // A folder deployed from the console: bounded per file (--max-body-size)
      // and in files, not as a whole, as `hearth deploy` is.
      if (req.path.substr(0, 16) == "/_hearth/upload/") return BodyRoute::kStreamAnySize;
      if (router->StreamsBody(req.HostName(), req.path)) return BodyRoute::kStream;
      // hearth's own routes are never a site's (the router sends them elsewhere).
      if (req.path.substr(0, 9) == "/_hearth/") return BodyRoute::kBuffer;
      return site_handler->StreamsBody(req) ? BodyRoute::kStreamAnySize : BodyRoute::kBuffer;
    };
    worker->SetHandler(std::move(root), std::move(streams));
    srv->workers_.push_back(std::move(worker));
    if (srv->tls_) {
      Worker* w = srv->workers_.back().get();
      w->AddListener(tls_fds[static_cast<size_t>(i)], srv->tls_.get(), w->HttpSessions());
    }
  }
  srv->stats_->Start();  // the workers (whose metrics it reads) are all there now
  // ACME first: it reads the sites' hosts, which the first handshakes ask about.
  if (srv->acme_) srv->acme_->Start();
  for (auto& w : srv->workers_) w->Start();
  if (s.backup_every_ms > 0)
    srv->jobs_->Every("backup", s.backup_every_ms, [raw] { raw->BackupOnce(); });
  Log(LogLevel::kInfo, "listening",
      {{"addr", bind_addr.ToString()}, {"https", https_text}, {"workers", nworkers}, {"version", kVersion},
       {"data", s.data}, {"root", s.root}, {"certificates", srv->tls_ ? srv->tls_->size() : 0}});
  return srv;
}

Server::~Server() {
  if (stats_) stats_->Stop();
  if (acme_) acme_->Stop();  // an order in progress gives up; the object stays for late Poke()s
  if (!workers_.empty() && !AllFinished()) {
    SignalStop();
    for (auto& w : workers_) w->Join();
  }
  if (tls_) tls_->StopOcsp();  // a fetch in progress gives up
  if (jobs_) jobs_->Stop();    // a backup in progress finishes
  workers_.clear();
  // The stores' writer threads finish their queues now, while what their
  // completions touch (sites_, the TLS set) still exists.
  apps_.reset();
  store_.reset();
  acme_.reset();
  if (lock_fd_ >= 0) close(lock_fd_);
}

// Periodic backups into DATA/backups, the newest `backup-keep` kept.
// One run of the scheduler's "backup" job.
void Server::BackupOnce() {
  const std::string dir = options_.settings.data + "/backups";
  {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    char name[64];
    time_t now = time(nullptr);
    tm g;
    gmtime_r(&now, &g);
    strftime(name, sizeof name, "hearth-%Y%m%d-%H%M%S.db", &g);
    std::string out = dir + "/" + name;
    Status st = store::BackupDatabase(options_.settings.data + "/hearth.db", out,
                                      store::AppDatabases(options_.settings.data),
                                      options_.settings.data + "/files");
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
      std::lock_guard<std::mutex> lock(shared_.settings_mu);
      keep = shared_.settings.backup_keep;
    }
    for (size_t i = 0; i + static_cast<size_t>(keep) < backups.size(); ++i) std::filesystem::remove(backups[i], ec);
  }
}

void Server::SignalStop() {
  stopping_ = true;
  shared_.stop.store(true);
  for (auto& w : workers_) w->Wake();
}

bool Server::AllFinished() const {
  for (auto& w : workers_)
    if (!w->finished()) return false;
  return true;
}

void Server::Stop() {
  SignalStop();
  for (auto& w : workers_) w->Join();
}

void Server::Reload() {
  auto loaded = LoadSettings(options_.config_path, environ, options_.flags);
  if (!loaded.ok()) {
    Log(LogLevel::kError, "reload failed; keeping the running settings", {{"error", loaded.error().message}});
    return;
  }
  Settings next = std::move(loaded).value();
  nlohmann::json changed = nlohmann::json::array();
  {
    std::lock_guard<std::mutex> lock(shared_.settings_mu);
    const Settings& cur = shared_.settings;
    for (const auto& spec : SettingSpecs()) {
      const auto& before = cur.origins.at(spec.name).text;
      const auto& after = next.origins.at(spec.name).text;
      if (!spec.live) {
        if (before != after)
          Log(LogLevel::kWarn, "setting changed but needs a restart", {{"setting", spec.name}});
        std::visit([&](auto field) { next.*field = cur.*field; }, spec.field);
        next.origins[spec.name] = cur.origins.at(spec.name);
      } else if (before != after) {
        changed.push_back(spec.name);
      }
    }
  }
  if (auto st = shared_.access_log.Open(next.access_log); !st.ok()) {
    Log(LogLevel::kError, "reload failed; keeping the running settings", {{"error", st.error().message}});
    return;
  }
  SetLogLevel(next.log_level);
  sites_.keep_versions.store(next.keep_versions);
  guard_->SetPolicy(GuardPolicy(next));
  for (const DeclaredSite& d : next.sites)
    if (Status st = sites::DeclareSite(&sites_, d.name, d.hosts, d.proxy_json, d.rate_limit, d.rate_burst); !st.ok())
      Log(LogLevel::kError, "reload: a declared site could not be applied", {{"site", d.name}, {"error", st.error().message}});
  {
    std::lock_guard<std::mutex> lock(shared_.settings_mu);
    shared_.settings = std::move(next);
    shared_.settings_generation.fetch_add(1);
  }
  for (auto& w : workers_) w->Wake();
  Log(LogLevel::kInfo, "reloaded", {{"changed", changed}});
}

int Server::RunUntilSignalled() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  while (true) {
    timespec tick{0, 100 * 1000 * 1000};
    int sig = sigtimedwait(&set, nullptr, &tick);
    if (sig < 0) {
      if (stopping_ && AllFinished()) break;
      continue;
    }
    if (sig == SIGHUP) {
      Reload();
      continue;
    }
    if (stopping_) {
      Log(LogLevel::kWarn, "second stop signal: exiting without waiting");
      _exit(1);
    }
    Log(LogLevel::kInfo, "stopping", {{"signal", sig == SIGINT ? "SIGINT" : "SIGTERM"}});
    SignalStop();
  }
  for (auto& w : workers_) w->Join();
  Log(LogLevel::kInfo, "stopped");
  return 0;
}

}  // namespace hearth
