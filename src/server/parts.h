#pragma once
// Parts: what a running server is made of, and the services that make, start
// and stop each of them (server/service.h). Server::Start is the composition
// root: it lists these services in start order (parts.cpp says why that
// order); Services starts them and, on a failure or at the end, stops them in
// reverse. A service's Stop ends the part's activity (threads, listeners,
// writes); the objects themselves are freed when Parts is, after every
// service has stopped, in the reverse of the order they are declared below,
// so a late callback (a store write's completion poking ACME) never finds
// its target gone.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "admin/backup_facts.h"
#include "admin/stats.h"
#include "api/routes.h"
#include "base/scheduler.h"
#include "control/acme_manager.h"
#include "data/api.h"
#include "data/app.h"
#include "guard/guard.h"
#include "io/socket.h"
#include "proxy/forwarder.h"
#include "proxy/upstream.h"
#include "server/builtin.h"
#include "server/service.h"
#include "server/settings.h"
#include "server/worker.h"
#include "sites/sites.h"
#include "store/store.h"
#include "stream/log.h"
#include "stream/uploader.h"
#include "tls/server.h"

namespace hearth {

// A protocol on a port of its own (a RESP port, say): a service that starts
// before the workers binds one listening socket per worker (ListenReusePort)
// and adds them here; each worker takes its socket with a session factory
// made for it, given that worker's loop (for sockets and tickers of its own,
// on the loop; work from other threads posts through `loop.inbox()`, kept,
// and reaches a session by its SessionInfo::id with `loop.Resume`).
struct ProtocolListener {
  std::string name;      // "kv", for messages
  std::vector<int> fds;  // one per worker; -1 once that worker owns it
  const tls::TlsServer* tls = nullptr;
  std::function<SessionFactory(EventLoop& loop)> sessions;
};

struct Parts {
  ~Parts();           // closes what no service took over (listeners, the data folder's lock)
  Settings settings;  // as started; SIGHUP's changes go to shared.settings
  int nworkers = 1;
  WorkerShared shared;
  // Background jobs: stopped before the store, freed after what runs on
  // them (declared before them). `jobs` (two threads) is for short ones
  // (the traffic samples); `net` (two threads) for those
  // that wait on the network (proxy health checks, OCSP fetches), so a hung
  // upstream or responder never delays the short ones.
  std::unique_ptr<Scheduler> jobs;
  std::unique_ptr<Scheduler> net;
  std::unique_ptr<tls::TlsServer> tls;  // null without --https
  // The change stream (null without --change-log): the local log, the one
  // index sequence, and what each store is opened with. Freed after the
  // stores (declared before them).
  std::unique_ptr<stream::LocalLog> change_log;
  std::unique_ptr<store::Sequencer> sequencer;
  std::shared_ptr<store::StreamContext> stream;
  // The streaming backup's uploader (null without --backup-to): reads the log.
  std::unique_ptr<stream::Uploader> uploader;
  std::unique_ptr<store::Store> store;
  std::unique_ptr<data::Apps> apps;  // sites' app databases
  std::unique_ptr<guard::Guard> guard;
  std::unique_ptr<proxy::Registry> proxies;  // upstreams and their health checks
  sites::SitesShared sites;
  std::shared_ptr<data::DataOptions> data_options;  // the sites' data APIs
  control::ControlShared control;                   // tokens, admins, certs, ACME
  api::RouteTable api_routes;  // every part's /_hearth/api/ routes; read by the workers
  tls::AcmeChallenges acme_challenges;
  std::unique_ptr<control::AcmeManager> acme;  // null without --acme-email
  BuiltinContext builtin;
  // The console's traffic figures: read by the workers' handlers; its
  // sampling starts after the workers and stops before them.
  std::unique_ptr<admin::TrafficStats> stats;
  // The console's Backup region (null without --backup-to): set by the
  // stream-backup service, which starts before the workers.
  admin::BackupFactsSource backup_facts;
  std::vector<std::unique_ptr<Worker>> workers;
  std::vector<const proxy::Forwarder*> forwarders;  // one per worker, owned by its handler

  int lock_fd = -1;
  // Listening sockets, one per worker; -1 once a worker owns it.
  std::vector<int> http_fds, https_fds;
  std::vector<ProtocolListener> protocols;  // besides HTTP and HTTPS
  SocketAddress http_addr;
  std::string https_text;  // the HTTPS address, for the start line ("" without)
  int port = 0;
  int https_port = 0;
};

// The server's services, in start order. Each takes `parts` (which outlives
// it) and fills in its own part of it.
std::unique_ptr<Service> DataFolderService(Parts* parts);
std::unique_ptr<Service> ListenersService(Parts* parts);
std::unique_ptr<Service> ChangesService(Parts* parts);  // server/changes_service.cpp
std::unique_ptr<Service> StoreService(Parts* parts);
std::unique_ptr<Service> JobsService(Parts* parts);
std::unique_ptr<Service> TlsService(Parts* parts);
std::unique_ptr<Service> GuardService(Parts* parts);
std::unique_ptr<Service> ProxyService(Parts* parts);
std::unique_ptr<Service> SitesService(Parts* parts);
std::unique_ptr<Service> AcmeService(Parts* parts);
std::unique_ptr<Service> WorkersService(Parts* parts);
std::unique_ptr<Service> StatsService(Parts* parts);
std::unique_ptr<Service> BackupService(Parts* parts);
std::unique_ptr<Service> StreamBackupService(Parts* parts);  // server/stream_backup_service.cpp

}  // namespace hearth
