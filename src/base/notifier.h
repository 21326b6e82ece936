#pragma once
// Notifier: wakes whoever listens when something has changed (the console's
// live pages hold a listener for as long as their stream is open). Notify is
// cheap with no listeners, and may be called from any thread.
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>

namespace hearth {

class Notifier {
 public:
  // `wake` is called (from the notifying thread) after each change; it
  // should only wake its owner, not do the owner's work.
  uint64_t Add(std::function<void()> wake);
  void Remove(uint64_t id);
  void Notify();

 private:
  std::mutex mu_;
  uint64_t next_ = 1;
  std::map<uint64_t, std::function<void()>> listeners_;
};

}  // namespace hearth
