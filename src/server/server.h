#pragma once
// Server: the composition root. Builds the parts from Settings, starts them in
// order, and stops them in reverse; a failed start leaves nothing running,
// bound or locked.
#include <map>
#include <memory>
#include <string>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "base/result.h"
#include "admin/stats.h"
#include "server/builtin.h"
#include "server/settings.h"
#include "base/scheduler.h"
#include "server/worker.h"
#include "api/routes.h"
#include "control/acme_manager.h"
#include "proxy/forwarder.h"
#include "tls/server.h"
#include "data/app.h"
#include "sites/sites.h"
#include "store/store.h"

namespace hearth {

struct ServeOptions {
  Settings settings;
  std::string config_path;                   // re-read on SIGHUP
  std::map<std::string, std::string> flags;  // re-applied on SIGHUP
};

// Locks the data folder (creating it) so only one process uses it; the lock
// lasts as long as the returned descriptor is open.
Result<int> LockDataDir(const std::string& dir);

class Server {
 public:
  // Creates and locks the data folder, binds the listeners, starts the workers.
  static Result<std::unique_ptr<Server>> Start(ServeOptions options);
  ~Server();

  // Blocks the calling thread (which must have SIGINT, SIGTERM and SIGHUP
  // blocked, see BlockSignals) until SIGTERM or SIGINT has stopped the server.
  // SIGHUP reloads settings. Returns the process exit code.
  int RunUntilSignalled();
  // Call before any thread is created, so every thread inherits the mask.
  static void BlockSignals();

  void Reload();
  // Graceful stop: no new connections, in-flight requests finish (bounded by
  // shutdown-timeout). Returns once every worker is done.
  void Stop();
  int port() const { return port_; }

 private:
  Server() = default;
  void SignalStop();
  bool AllFinished() const;
  void BackupOnce();

  ServeOptions options_;
  WorkerShared shared_;
  // Background jobs on a clock (backups, OCSP, proxy health checks): stopped
  // after the workers, freed after what runs on it (declared before them).
  std::unique_ptr<Scheduler> jobs_;
  std::unique_ptr<tls::TlsServer> tls_;  // outlives the workers; null without --https
  std::unique_ptr<store::Store> store_;  // outlives the workers (declared before them)
  std::unique_ptr<data::Apps> apps_;     // sites' app databases, likewise
  std::unique_ptr<guard::Guard> guard_;       // shared by workers; outlives them
  std::unique_ptr<proxy::Registry> proxies_;  // upstreams and their health checks, shared by workers
  sites::SitesShared sites_;
  control::ControlShared control_;  // tokens, admins, certs, ACME
  api::RouteTable api_routes_;      // every part's /_hearth/api/ routes; read by the workers
  tls::AcmeChallenges acme_challenges_;
  std::unique_ptr<control::AcmeManager> acme_;  // stopped before the store and TLS it uses
  BuiltinContext builtin_;
  // The console's traffic figures: read by the workers' handlers, so it
  // outlives them; its thread reads their metrics, so ~Server stops it first.
  std::unique_ptr<admin::TrafficStats> stats_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<const proxy::Forwarder*> forwarders_;  // one per worker, owned by its handler
  int lock_fd_ = -1;
  int port_ = 0;
  int https_port_ = 0;
  bool stopping_ = false;
};

}  // namespace hearth
