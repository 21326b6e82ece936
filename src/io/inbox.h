#pragma once
// Inbox: where functions are posted to an event loop, from any thread. It is
// the only way work from elsewhere reaches a loop: whoever may post later (a
// deferred reply finished by the store's writer, a realtime waker, another
// service's thread) keeps the loop's inbox (a shared_ptr), never the loop or
// its worker. The inbox outlives the loop, so a post made after the loop has
// gone finds it closed and is dropped instead of touching freed memory.
#include <atomic>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace hearth {

class Inbox {
 public:
  explicit Inbox(int wake_fd) : wake_fd_(wake_fd) {}
  void SetOwner(std::thread::id owner) { owner_.store(owner); }
  // Runs `fn` on the loop, after the posts before it. A post from the loop's
  // own thread runs after the current turn's events without a syscall. Once
  // closed, `fn` is destroyed unrun (on the posting thread).
  void Post(std::function<void()> fn);
  // Drops what is queued and everything posted from now on.
  void Close();
  // Takes everything posted so far (owner thread only): other threads' posts
  // first, then the owner's own.
  std::vector<std::function<void()>> Take();
  // Whether the owner thread posted something not yet taken (owner thread only).
  bool HasLocal() const { return !local_.empty(); }

 private:
  std::mutex mu_;
  std::atomic<bool> closed_{false};
  int wake_fd_;
  std::atomic<std::thread::id> owner_{};
  std::vector<std::function<void()>> posted_;  // guarded by mu_
  std::vector<std::function<void()>> local_;
};

}  // namespace hearth
