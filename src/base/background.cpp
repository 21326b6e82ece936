#include "base/background.h"

namespace hearth {

BackgroundQueue::BackgroundQueue() {
  thread_ = std::thread([this] {
    while (true) {
      std::function<void()> task;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return stop_ || !tasks_.empty(); });
        if (tasks_.empty()) return;
        task = std::move(tasks_.front());
        tasks_.pop_front();
      }
      task();
    }
  });
}

BackgroundQueue::~BackgroundQueue() {
  Stop();
}

void BackgroundQueue::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  std::lock_guard<std::mutex> lock(mu_);
  ended_ = true;
}

void BackgroundQueue::Post(std::function<void()> task) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (ended_) return;  // nothing runs it any more
    tasks_.push_back(std::move(task));
  }
  cv_.notify_one();
}

bool BackgroundQueue::TryPost(std::function<void()> task, size_t max_waiting) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (ended_ || tasks_.size() >= max_waiting) return false;
    tasks_.push_back(std::move(task));
  }
  cv_.notify_one();
  return true;
}

size_t BackgroundQueue::waiting() {
  std::lock_guard<std::mutex> lock(mu_);
  return tasks_.size();
}

}  // namespace hearth
