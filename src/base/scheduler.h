#pragma once
// Scheduler: the one place for background work that runs on a clock:
// periodic jobs (backups, refreshes, health checks) and one-shot jobs, each
// with a name, on a small pool of threads (one or two) named after the
// scheduler. Jobs must not block a worker's loop, and nothing here runs on one.
//
// Rules:
//   1. A periodic job's next run is `every_ms` after its previous run ended
//      (never two runs of one job at once, never a burst after a slow run).
//   2. RunSoon() moves a job's next run to now (a poke: "settings changed").
//   3. Cancel() means no further run; a run in progress finishes first
//      (Cancel waits for it, except when called from a job of this
//      scheduler: there it only marks the job, and returns at once).
//   4. Stop() runs nothing new, waits for the runs in progress, and joins
//      the threads. Long jobs may watch stopping() to give up early.
//   5. `leader_only` is stored for the cluster to come (a job only the
//      leader runs); today every job runs.
//   6. A job that throws is logged and tried again a minute later; it never
//      ends the process.
// A job that may take minutes (a backup) gets a scheduler of its own, so the
// shared pool's two threads stay free for the short ones.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace hearth {

struct JobOptions {
  bool leader_only = false;
};

// What Jobs() says of each job (for the console and tests).
struct JobInfo {
  uint64_t id = 0;
  std::string name;
  bool periodic = false;
  bool leader_only = false;
  bool running = false;
  uint64_t runs = 0;
};

class Scheduler {
 public:
  // `threads`: 1 or 2. The threads start at once and idle until a job is due.
  explicit Scheduler(std::string name, int threads = 1);
  ~Scheduler();  // Stop()
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Runs `fn` every `every_ms`, the first time after `first_ms` (-1: after every_ms).
  uint64_t Every(std::string name, int64_t every_ms, std::function<void()> fn,
                 JobOptions options = {}, int64_t first_ms = -1);
  // Runs `fn` once, after `delay_ms`.
  uint64_t After(std::string name, int64_t delay_ms, std::function<void()> fn,
                 JobOptions options = {});
  // Runs `fn` after `delay_ms`, then again as many ms after each run as it
  // returns (a job that knows its own next deadline); a negative return ends it.
  uint64_t Timed(std::string name, int64_t delay_ms, std::function<int64_t()> fn,
                 JobOptions options = {});
  void RunSoon(uint64_t id);
  void Cancel(uint64_t id);
  void Stop();
  bool stopping() const { return stop_.load(); }
  std::vector<JobInfo> Jobs() const;

 private:
  struct Job {
    JobInfo info;
    int64_t due_ms = 0;  // monotonic
    bool cancelled = false;
    std::function<int64_t()> fn;  // returns the delay to its next run (< 0: none)
  };
  uint64_t Add(std::string name, bool periodic, int64_t delay_ms, std::function<int64_t()> fn,
               JobOptions options);
  void Loop();

  std::string name_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<uint64_t, Job> jobs_;  // guarded by mu_
  uint64_t next_id_ = 1;          // guarded by mu_
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
};

}  // namespace hearth
