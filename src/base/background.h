#pragma once
// BackgroundQueue: one thread for slow work that must not hold a worker
// (compressed variants at deploy, password hashing). Tasks run in order;
// Stop (and the destructor) finishes what was queued, and a task posted after
// that never runs: the owner stops it while what its tasks write to (the
// store) still exists.
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace hearth {

class BackgroundQueue {
 public:
  BackgroundQueue();
  ~BackgroundQueue();
  void Post(std::function<void()> task);
  // Posts unless `max_waiting` tasks already wait (false: refused, so a
  // flood of requests cannot queue unbounded work).
  bool TryPost(std::function<void()> task, size_t max_waiting);
  size_t waiting();
  // Runs what is queued (and what those tasks post), then ends the thread.
  // Idempotent; not from a task.
  void Stop();

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  bool stop_ = false;
  bool ended_ = false;  // the thread is gone: posts are dropped
  std::thread thread_;
};

}  // namespace hearth
