#include "server/server.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "base/log.h"
#include "base/version.h"
#include "server/site_mounts.h"

extern char** environ;

namespace hearth {
namespace {

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
  srv->options_ = std::move(options);
  const Settings& s = srv->options_.settings;
  Parts* parts = &srv->parts_;
  parts->settings = s;
  parts->nworkers = s.workers > 0 ? static_cast<int>(s.workers) : CpuCount();
  // Read by the workers' handlers (made before sampling starts).
  parts->stats = std::make_unique<admin::TrafficStats>([parts] {
    admin::TrafficStats::Totals t;
    for (auto& w : parts->workers) {
      const WorkerMetrics& m = w->metrics();
      for (const Counter& c : m.requests_by_class) t.requests += c.Get();
      t.errors += m.requests_by_class[5].Get();
    }
    return t;
  });
  Server* raw = srv.get();
  parts->builtin.more_metrics = [raw] { return raw->services_.Metrics(); };

  // The parts, in start order (parts.cpp says why this order).
  Services& list = srv->services_;
  list.Add(DataFolderService(parts));
  list.Add(ListenersService(parts));
  if (s.change_log || !s.backup_to.empty()) list.Add(ChangesService(parts));
  list.Add(StoreService(parts));
  list.Add(JobsService(parts));
  // A part that is off says so in its front gate (sites::GatesProblem).
  if (!s.https.empty())
    list.Add(TlsService(parts));
  else
    SetNoHttpsGate(&parts->sites.gates);
  list.Add(GuardService(parts));
  list.Add(ProxyService(parts));
  list.Add(SitesService(parts));
  if (!s.https.empty() && !s.acme_email.empty())
    list.Add(AcmeService(parts));
  else
    SetNoAcmeGate(&parts->sites.gates);
  if (srv->options_.add_services) srv->options_.add_services(parts, &list);
  // Before the workers: the health answer's hook is set before they read it.
  if (!s.backup_to.empty()) list.Add(StreamBackupService(parts));
  list.Add(WorkersService(parts));
  list.Add(StatsService(parts));
  list.Add(BackupService(parts));
  if (srv->options_.before_start) list.SetBeforeStart(srv->options_.before_start);
  if (Status st = list.StartAll(s); !st.ok()) return st.error();

  Log(LogLevel::kInfo, "listening",
      {{"addr", parts->http_addr.ToString()},
       {"https", parts->https_text},
       {"workers", parts->nworkers},
       {"version", kVersion},
       {"data", s.data},
       {"root", s.root},
       {"certificates", parts->tls ? parts->tls->size() : 0}});
  return srv;
}

Server::~Server() {
  services_.StopAll();
}

void Server::SignalStop() {
  stopping_ = true;
  parts_.shared.stop.store(true);
  for (auto& w : parts_.workers) w->Wake();
}

bool Server::AllFinished() const {
  for (auto& w : parts_.workers)
    if (!w->finished()) return false;
  return true;
}

void Server::Stop() {
  SignalStop();
  for (auto& w : parts_.workers) w->Join();
}

void Server::Reload() {
  auto loaded = LoadSettings(options_.config_path, environ, options_.flags);
  if (!loaded.ok()) {
    Log(LogLevel::kError, "reload failed; keeping the running settings",
        {{"error", loaded.error().message}});
    return;
  }
  Settings next = std::move(loaded).value();
  WorkerShared& shared = parts_.shared;
  nlohmann::json changed = nlohmann::json::array();
  {
    std::lock_guard<std::mutex> lock(shared.settings_mu);
    const Settings& cur = shared.settings;
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
  if (auto st = shared.access_log.Open(next.access_log); !st.ok()) {
    Log(LogLevel::kError, "reload failed; keeping the running settings",
        {{"error", st.error().message}});
    return;
  }
  SetLogLevel(next.log_level);
  services_.ReloadAll(next);  // each part takes its live settings; the workers last
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
  for (auto& w : parts_.workers) w->Join();
  Log(LogLevel::kInfo, "stopped");
  return 0;
}

}  // namespace hearth
