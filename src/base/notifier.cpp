#include "base/notifier.h"

#include <vector>

namespace hearth {

uint64_t Notifier::Add(std::function<void()> wake) {
  std::lock_guard lock(mu_);
  uint64_t id = next_++;
  listeners_.emplace(id, std::move(wake));
  return id;
}

void Notifier::Remove(uint64_t id) {
  std::lock_guard lock(mu_);
  listeners_.erase(id);
}

void Notifier::Notify() {
  std::vector<std::function<void()>> wakes;
  {
    std::lock_guard lock(mu_);
    if (listeners_.empty()) return;
    wakes.reserve(listeners_.size());
    for (const auto& [id, w] : listeners_) wakes.push_back(w);
  }
  // Outside the lock: a wake may end its own stream, which removes its listener.
  for (auto& w : wakes) w();
}

}  // namespace hearth
