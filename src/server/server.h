#pragma once
// Server: the composition root. It lists the parts as services (server/parts.h)
// in start order; Services starts them and stops them in reverse, and a failed
// start leaves nothing running, bound, open or locked.
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "base/result.h"
#include "server/parts.h"
#include "server/service.h"
#include "server/settings.h"

namespace hearth {

struct ServeOptions {
  Settings settings;
  std::string config_path;                   // re-read on SIGHUP
  std::map<std::string, std::string> flags;  // re-applied on SIGHUP
  // Tests and embedders: more services, started just before the workers (a
  // protocol on a port of its own adds its listeners to Parts::protocols).
  std::function<void(Parts*, Services*)> add_services;
  // Tests: runs before each service's Start; an error fails the start there.
  std::function<Status(std::string_view service)> before_start;
};

// Locks the data folder (creating it) so only one process uses it; the lock
// lasts as long as the returned descriptor is open.
Result<int> LockDataDir(const std::string& dir);

class Server {
 public:
  // Validates the settings of every part, then starts them in order: the
  // data folder's lock, the listeners, the store, ..., the workers.
  static Result<std::unique_ptr<Server>> Start(ServeOptions options);
  ~Server();  // stops the services in reverse order

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
  int port() const { return parts_.port; }
  const Services& services() const { return services_; }

 private:
  Server() = default;
  void SignalStop();
  bool AllFinished() const;

  ServeOptions options_;
  Parts parts_;        // what the services make; freed after they have all stopped
  Services services_;  // declared after parts_, so destroyed (stopped) first
  bool stopping_ = false;
};

}  // namespace hearth
