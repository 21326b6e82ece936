#include "base/scheduler.h"

#include <pthread.h>

#include <algorithm>
#include <cstdint>

#include "base/clock.h"
#include "base/log.h"

namespace hearth {
namespace {
// The scheduler whose job this thread is running (null: none), so Cancel and
// Stop called from inside a job do not wait for that job (themselves).
thread_local const Scheduler* tl_running = nullptr;
constexpr int64_t kRetryAfterThrowMs = 60 * 1000;
}  // namespace

Scheduler::Scheduler(std::string name, int threads) : name_(std::move(name)) {
  threads = std::clamp(threads, 1, 2);
  for (int i = 0; i < threads; ++i) {
    threads_.emplace_back([this] { Loop(); });
    // Named for top and gdb (15 bytes at most).
    pthread_setname_np(threads_.back().native_handle(), name_.substr(0, 15).c_str());
  }
}

Scheduler::~Scheduler() {
  Stop();
}

uint64_t Scheduler::Add(std::string name, bool periodic, int64_t delay_ms,
                        std::function<int64_t()> fn, JobOptions options) {
  std::lock_guard<std::mutex> lock(mu_);
  uint64_t id = next_id_++;
  Job& j = jobs_[id];
  j.info.id = id;
  j.info.name = std::move(name);
  j.info.periodic = periodic;
  j.info.leader_only = options.leader_only;
  j.due_ms = MonoNowMillis() + std::max<int64_t>(0, delay_ms);
  j.fn = std::move(fn);
  cv_.notify_all();
  return id;
}

uint64_t Scheduler::Every(std::string name, int64_t every_ms, std::function<void()> fn,
                          JobOptions options, int64_t first_ms) {
  every_ms = std::max<int64_t>(1, every_ms);
  auto run = [fn = std::move(fn), every_ms] {
    fn();
    return every_ms;
  };
  return Add(std::move(name), true, first_ms < 0 ? every_ms : first_ms, std::move(run), options);
}

uint64_t Scheduler::After(std::string name, int64_t delay_ms, std::function<void()> fn,
                          JobOptions options) {
  auto run = [fn = std::move(fn)]() -> int64_t {
    fn();
    return -1;
  };
  return Add(std::move(name), false, delay_ms, std::move(run), options);
}

uint64_t Scheduler::Timed(std::string name, int64_t delay_ms, std::function<int64_t()> fn,
                          JobOptions options) {
  return Add(std::move(name), true, delay_ms, std::move(fn), options);
}

void Scheduler::RunSoon(uint64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return;
  it->second.due_ms = 0;  // a running job runs again as soon as it ends
  cv_.notify_all();
}

void Scheduler::Cancel(uint64_t id) {
  std::unique_lock<std::mutex> lock(mu_);
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return;
  if (!it->second.info.running) {
    jobs_.erase(it);
    return;
  }
  // Its runner drops it after this run; what the job uses may be freed
  // once Cancel returns, so wait for that, unless this is one of our own
  // runs (the job itself, or another job): waiting there could wait forever.
  it->second.cancelled = true;
  if (tl_running == this) return;
  cv_.wait(lock, [&] { return jobs_.count(id) == 0; });
}

void Scheduler::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_.store(true);
  }
  cv_.notify_all();
  for (auto& t : threads_)
    if (t.joinable() && t.get_id() != std::this_thread::get_id()) t.join();
}

std::vector<JobInfo> Scheduler::Jobs() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<JobInfo> out;
  for (const auto& [id, j] : jobs_) out.push_back(j.info);
  return out;
}

void Scheduler::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_.load()) {
    // The earliest due job that is not already running.
    Job* next = nullptr;
    for (auto& [id, j] : jobs_)
      if (!j.info.running && (!next || j.due_ms < next->due_ms)) next = &j;
    int64_t now = MonoNowMillis();
    if (!next) {
      cv_.wait(lock);
      continue;
    }
    if (next->due_ms > now) {
      cv_.wait_for(lock, std::chrono::milliseconds(next->due_ms - now));
      continue;  // look again: a job may have been added, poked or cancelled
    }
    uint64_t id = next->info.id;
    next->info.running = true;
    next->due_ms = INT64_MAX;                // RunSoon() during the run sets it to 0
    std::function<int64_t()> fn = next->fn;  // a copy: the job may be cancelled meanwhile
    lock.unlock();
    int64_t again_ms;
    tl_running = this;
    try {
      again_ms = fn();
    } catch (const std::exception& e) {
      // A job's failure is the job's: it never ends the server. Tried again in a minute.
      Log(LogLevel::kError, "background job failed", {{"job", name_}, {"error", e.what()}});
      again_ms = kRetryAfterThrowMs;
    }
    tl_running = nullptr;
    lock.lock();
    auto it = jobs_.find(id);
    if (it == jobs_.end()) continue;
    Job& j = it->second;
    j.info.running = false;
    ++j.info.runs;
    if (j.cancelled || again_ms < 0) {
      jobs_.erase(it);
      cv_.notify_all();  // a Cancel() may wait for this
      continue;
    }
    // A poke during the run (due_ms 0) runs it again at once; otherwise the
    // next run is a full period after this one ended.
    if (j.due_ms != 0) j.due_ms = MonoNowMillis() + again_ms;
    cv_.notify_all();
  }
}

}  // namespace hearth
