// The workers: one event loop per core, each with its listeners (HTTP, and
// HTTPS with --https), its root handler composed from every part (builtins,
// the control API, the console, the sites with their mounts), and its own
// caches. Started last of the request path, stopped first.
#include <sys/stat.h>
#include <unistd.h>

#include "admin/admin.h"
#include "api/tokens.h"
#include "base/clock.h"
#include "files/file_handler.h"
#include "guard/admission.h"
#include "server/api_routes.h"
#include "server/http_listener.h"
#include "server/parts.h"
#include "server/site_mounts.h"
#include "store/backup.h"
#include "store/digest.h"
#include "store/entry.h"
#include "store/image.h"

namespace hearth {
namespace {

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

class Workers : public Service {
 public:
  explicit Workers(Parts* p) : p_(p) {}
  std::string_view name() const override { return "workers"; }
  std::vector<std::string_view> settings() const override {
    return {"workers",           "root",
            "file-cache-size",   "max-connections",
            "header-timeout",    "body-timeout",
            "keepalive-timeout", "write-timeout",
            "shutdown-timeout",  "max-header-size",
            "max-target-size",   "metrics-public"};
  }
  Status Validate(const Settings& s) override {
    if (!s.root.empty()) {
      struct stat st;
      if (stat(s.root.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
        return Error{"root \"" + s.root + "\" is not a folder"};
    }
    return OkStatus();
  }
  Status Start() override {
    Builtins();
    for (int i = 0; i < p_->nworkers; ++i)
      if (Status st = Make(i); !st.ok()) {
        Stop();
        return st;
      }
    for (auto& w : p_->workers) w->Start();
    return OkStatus();
  }
  // Graceful: no new connections, in-flight requests finish (bounded by
  // shutdown-timeout). Then the workers and their handlers are freed while
  // everything those use still runs.
  void Stop() override {
    p_->shared.stop.store(true);
    for (auto& w : p_->workers) w->Wake();
    for (auto& w : p_->workers) w->Join();
    p_->forwarders.clear();
    p_->workers.clear();
  }
  void Reload(const Settings& next) override {
    {
      std::lock_guard<std::mutex> lock(p_->shared.settings_mu);
      p_->shared.settings = next;
      p_->shared.settings_generation.fetch_add(1);
    }
    for (auto& w : p_->workers) w->Wake();
  }

 private:
  void Builtins() {
    const Settings& s = p_->settings;
    BuiltinContext& b = p_->builtin;
    b.start_mono_ms = MonoNowMillis();
    b.workers = p_->nworkers;
    b.test_endpoints =
        getenv("HEARTH_TEST_ENDPOINTS") && std::string(getenv("HEARTH_TEST_ENDPOINTS")) == "1";
    Parts* p = p_;
    b.metrics = [p] {
      std::vector<const WorkerMetrics*> out;
      for (auto& w : p->workers) out.push_back(&w->metrics());
      return out;
    };
    b.open_connections = [p] { return p->shared.open_connections.load(); };
    b.schema_version = p_->store->schema_version();
    b.metrics_public = s.metrics_public;
    b.authorize = [store = p_->store.get()](const Request& req, int reader, std::string* why) {
      return api::AuthorizeRequest(store, reader, req, api::MetricsTarget(req.method), why);
    };
    b.refuse = api::RefuseRequest;
    if (b.test_endpoints) {
      b.apply_entry = [p](std::shared_ptr<const std::string> entry, std::string bytes_from,
                          std::function<void(Status)> done) {
        auto e = store::DecodeEntry(*entry);
        if (!e.ok()) return done(e.error());
        std::string db(e->database);
        store::ApplyOptions options;
        if (!bytes_from.empty()) options.source = store::DataFolderBytes(bytes_from);
        if (db == "hearth.db")
          return p->store->SubmitApply(
              std::move(entry), [done](const Status& s) { done(s); }, std::move(options));
        // apps/<file>.db: the site whose app database that is (AppFileName's inverse).
        std::string site = db.substr(5, db.size() - 8);
        if (site.rfind("_wildcard", 0) == 0) site = "*" + site.substr(9);
        auto app = p->apps->Get(site, /*create=*/false);
        if (!app.ok()) return done(app.error());
        if (e->kind == store::EntryKind::kCreateDatabase) {
          if (*app)  // made already: applying it again is a no-op
            return done((*app)->store().last_index() >= e->index
                            ? OkStatus()
                            : Status(Error{db + " exists here, made otherwise"}));
          if (Status st = store::WriteDatabaseImage(p->settings.data + "/" + db, *e); !st.ok())
            return done(st);
          auto made = p->apps->Get(site, /*create=*/false);
          return done(made.ok() ? OkStatus() : Status(made.error()));
        }
        if (!*app) return done(Error{"no app database " + db + " here"});
        options.files_root = (*app)->files().root();
        (*app)->store().SubmitApply(
            std::move(entry), [done, keep = *app](const Status& s) { done(s); },
            std::move(options));
      };
      b.digests = [p](int reader) -> Result<std::string> {
        nlohmann::json out = nlohmann::json::object();
        auto d = store::Digest(p->store->Reader(reader));
        if (!d.ok()) return d.error();
        out["hearth.db"] = *d;
        for (const auto& extra : store::AppDatabases(p->settings.data)) {
          std::string site = extra.name.substr(5, extra.name.size() - 8);  // apps/<site>.db
          if (site.rfind("_wildcard", 0) == 0) site = "*" + site.substr(9);
          auto app = p->apps->Get(site, false);
          if (!app.ok()) return app.error();
          if (!*app) continue;
          auto ad = store::Digest((*app)->store().Reader(reader));
          if (!ad.ok()) return ad.error();
          out[extra.name] = *ad;
          auto files = store::DigestFiles((*app)->files().root());
          if (!files.ok()) return files.error();
          out[store::FilesFolderOf(extra.name)] = *files;
        }
        return out.dump();
      };
    }
  }

  // Worker i: its loop, its listeners and its root handler.
  Status Make(int i) {
    const Settings& s = p_->settings;
    size_t n = static_cast<size_t>(i);
    // The worker first: the proxy's half lives on its loop.
    auto worker = std::make_unique<Worker>(i, &p_->shared);
    HttpSessions* http = HttpSessions::On(*worker);
    worker->AddListener(p_->http_fds[n], nullptr, http->Factory());
    p_->http_fds[n] = -1;  // the worker closes it
    if (p_->tls) {
      worker->AddListener(p_->https_fds[n], p_->tls.get(), http->Factory());
      p_->https_fds[n] = -1;
    }
    for (ProtocolListener& l : p_->protocols) {
      worker->AddListener(l.fds[n], l.tls, l.sessions(*worker));
      l.fds[n] = -1;
    }
    auto forwarder = std::make_shared<proxy::Forwarder>(worker.get());
    auto admission = std::make_shared<guard::Admission>(worker.get(), p_->guard.get());
    auto router = std::make_shared<Router>();
    AddBuiltinRoutes(router.get(), &p_->builtin, p_->store.get(), i);
    // The control API: each part's routes; the console calls them in-process.
    Handler routes = api::MakeRouteHandler(&p_->api_routes, i);
    Handler api = Compose({api::RequireToken(p_->store.get(), i, &p_->api_routes)}, routes);
    router->Add("", "/_hearth/api/", api);
    admin::AddAdminRoutes(router.get(), &p_->sites, p_->apps.get(), i, routes, p_->stats.get(),
                          s.admin_host, p_->backup_facts);  // the console
    Handler fallback = ServeWelcome;
    if (!s.root.empty()) {
      FileHandlerOptions fo;
      fo.root = s.root;
      fo.cache_bytes = s.file_cache_size;
      auto fh = FileHandler::Create(fo);
      if (!fh.ok()) return fh.error();
      std::shared_ptr<FileHandler> handler(std::move(fh).value());
      fallback = [handler](Request& req, Response& res) { handler->Serve(req, res); };
    }
    // Sites claim their hosts; any other host gets --root or the welcome page.
    auto mounts =
        SiteMounts(p_->proxies.get(), forwarder.get(), p_->apps.get(), p_->data_options, i);
    sites::SiteHandler::Admit admit = [admission](Request& req, Response& res, const Handler& h) {
      admission->Run(req, res, h);
    };
    auto made = sites::SiteHandler::Make(&p_->sites, i, std::move(fallback), std::move(mounts),
                                         std::move(admit));
    if (!made.ok()) return made.error();
    std::shared_ptr<sites::SiteHandler> site_handler = std::move(made).value();
    router->Add("", "/", [site_handler, forwarder, admission](Request& req, Response& res) {
      site_handler->Serve(req, res);
    });
    Handler root = Compose({MethodGuard, GuardRequests(p_->guard.get())},
                           [router](Request& req, Response& res) { router->Serve(req, res); });
    // Proxied requests stream their bodies upstream as they arrive.
    auto streams = [router, site_handler, table = &p_->api_routes](const Request& req) {
      // A folder deployed from the console: bounded per file (--max-body-size)
      // and in files, not as a whole, as `hearth deploy` is.
      if (req.path.substr(0, 16) == "/_hearth/upload/") return BodyRoute::kStreamAnySize;
      // The control API: the request's own row decides (blob uploads stream).
      if (req.path.substr(0, 13) == "/_hearth/api/") return ApiBodyRoute(*table, req);
      if (router->StreamsBody(req.HostName(), req.path)) return BodyRoute::kStream;
      // hearth's own routes are never a site's (the router sends them elsewhere).
      if (req.path.substr(0, 9) == "/_hearth/") return BodyRoute::kBuffer;
      return site_handler->StreamsBody(req) ? BodyRoute::kStreamAnySize : BodyRoute::kBuffer;
    };
    http->SetHandler(std::move(root), std::move(streams));
    p_->forwarders.push_back(forwarder.get());
    p_->workers.push_back(std::move(worker));
    return OkStatus();
  }

  Parts* p_;
};

}  // namespace

std::unique_ptr<Service> WorkersService(Parts* p) {
  return std::make_unique<Workers>(p);
}

}  // namespace hearth
