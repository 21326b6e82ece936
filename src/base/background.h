#pragma once
// BackgroundQueue: one thread for slow work that must not hold a worker
// (compressed variants at deploy, password hashing). Tasks run in order; the
// destructor finishes what was queued.
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

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace hearth
