#pragma once
// Service: one part's lifecycle, and Services: the composition root's list of
// them.
//
// A part (the store, the data API's databases, TLS and ACME, the guard, the
// proxy, the workers, the console's figures, backups; later the cluster, KV,
// objects, scripts, analytics) is a Service. The server starts them in the
// order they were added and stops them in reverse, so each may use what was
// started before it for as long as it runs. A failed start stops, in reverse,
// the services that had started, and the failed one undoes its own half start
// (its Start releases what it took before it returns an error): nothing stays
// bound, open or running. The start sequence is
//
//     Validate(all) --> Start(1) --> Start(2) --> ... --> Start(n)    running
//         |               |            |                 |
//         v               v            v                 v
//     error, nothing   error       error: Stop(1)     error: Stop(n-1) .. Stop(1)
//     was started
//
// Reload (SIGHUP) runs on every started service in start order with the new
// settings; a service takes the live settings it cares about and ignores the
// rest.
#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace hearth {

struct Settings;

// What a backup must copy: a database (copied with SQLite's online backup) or
// a folder of files (copied as they are).
struct BackupSource {
  enum class Kind { kDatabase, kFolder };
  Kind kind;
  std::string path;
};

class Service {
 public:
  virtual ~Service() = default;
  // A short lower-case name for messages ("store", "tls", "workers").
  virtual std::string_view name() const = 0;
  // The names of the setting rows (kSettingSpecs) this part reads, for
  // `hearth config` and the docs; the rows themselves stay in one table.
  virtual std::vector<std::string_view> settings() const { return {}; }
  // Checks the settings before anything starts. No side effects: nothing is
  // bound, created or opened.
  virtual Status Validate(const Settings&) { return OkStatus(); }
  // Takes what the part needs (sockets, files, threads). On an error it has
  // released all of it again before returning; Stop is not called.
  virtual Status Start() = 0;
  // Called once, only after a successful Start, in reverse start order.
  virtual void Stop() = 0;
  // SIGHUP, after the settings were loaded and checked.
  virtual void Reload(const Settings&) {}
  // Prometheus text exposition lines for /_hearth/metrics (may be empty).
  virtual std::string Metrics() const { return {}; }
  // What a backup of this part must contain.
  virtual std::vector<BackupSource> BackupSources() const { return {}; }
  // In a cluster, runs only on the leader (later: the cluster issue).
  virtual bool leader_only() const { return false; }
};

class Services {
 public:
  Services() = default;
  ~Services();  // stops whatever still runs
  Services(const Services&) = delete;
  Services& operator=(const Services&) = delete;

  // Adds a service to the end of the start order; returns it for wiring.
  template <typename T>
  T* Add(std::unique_ptr<T> service) {
    T* raw = service.get();
    list_.push_back(std::move(service));
    return raw;
  }
  // Validates every service, then starts them in order. The first error
  // stops those started and comes back as "<name>: <message>" (one line).
  Status StartAll(const Settings& settings);
  // Runs before each service's Start; an error fails the start there, as if
  // that service had failed (tests make each step fail in turn with it).
  void SetBeforeStart(std::function<Status(std::string_view name)> hook) {
    before_start_ = std::move(hook);
  }
  // Stops the started services in reverse order (idempotent).
  void StopAll();
  void ReloadAll(const Settings& settings);
  std::string Metrics() const;
  std::vector<BackupSource> BackupSources() const;
  size_t started() const { return started_.load(); }
  const std::vector<std::unique_ptr<Service>>& list() const { return list_; }

 private:
  std::vector<std::unique_ptr<Service>> list_;
  // list_[0, started_) are running. Atomic: /_hearth/metrics reads it on
  // the workers while the main thread still starts (or stops) the last ones.
  std::atomic<size_t> started_{0};
  std::function<Status(std::string_view)> before_start_;
};

}  // namespace hearth
