#pragma once
// EpollLoop: one thread's event loop. An epoll set (edge-triggered watchers,
// level-triggered listeners), tickers, stop hooks, and an Inbox through which
// any thread posts work to it (an eventfd wakes the loop; posts made on the
// loop's own thread skip the lock and the eventfd).
//
// One turn of Run():
//   wait (bounded by the owner's WaitLimitMs, the tickers' deadlines, and 0
//         if a local post is pending)
//   -> each event's watcher (OnIo), the wake eventfd noted
//   -> OnEvents()                owner's hook (work deferred within a turn)
//   -> posted functions, in order (if woken, or posted locally)
//   -> OnPosted()                owner's hook (timeouts)
//   -> tickers
//   -> OnTurnEnd()               owner's hook (may Quit())
// The owner (a Worker) derives from it and fills the hooks.
#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "io/event_loop.h"

namespace hearth {

// Where functions are posted to a loop, from any thread. Shared with whoever
// may post after the loop is gone (a deferred reply finished late), so such
// a post finds it closed and is dropped instead of touching freed memory.
class Inbox {
 public:
  explicit Inbox(int wake_fd) : wake_fd_(wake_fd) {}
  void SetOwner(std::thread::id owner) { owner_.store(owner); }
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

class EpollLoop : public EventLoop {
 public:
  EpollLoop();
  ~EpollLoop() override;  // closes the inbox; the owner has stopped the loop
  EpollLoop(const EpollLoop&) = delete;
  EpollLoop& operator=(const EpollLoop&) = delete;

  bool Watch(int fd, IoWatcher* watcher) override;
  // Watches `fd` for input only, level-triggered (a listener: accept as many
  // as wanted, the rest wake the next turn).
  bool WatchInput(int fd, IoWatcher* watcher);
  void Unwatch(int fd) override;
  int64_t NowMs() const override { return now_ms_; }
  void AddTicker(std::function<int64_t(int64_t now_ms)> tick) override {
    tickers_.push_back(std::move(tick));
  }
  void Post(std::function<void()> fn) override { inbox_->Post(std::move(fn)); }
  void AddStopHook(std::function<void()> hook) override { stop_hooks_.push_back(std::move(hook)); }
  // The inbox, for handles that may outlive the loop.
  const std::shared_ptr<Inbox>& inbox() const { return inbox_; }

  // Runs turns on the calling thread until Quit().
  void Run();

 protected:
  // The owner's hooks (see the turn above). WaitLimitMs: the longest the
  // next wait may last (now: the loop's clock).
  virtual int64_t WaitLimitMs(int64_t /*now_ms*/) { return 1000; }
  virtual void OnTurnStart() {}
  virtual void OnEvents() {}
  virtual void OnPosted() {}
  virtual void OnTurnEnd() {}
  void Quit() { quit_ = true; }
  // Runs (and forgets) the stop hooks.
  void RunStopHooks();
  void RefreshNow();
  // Drops what was posted and closes the inbox (after the loop ended).
  void CloseInbox() { inbox_->Close(); }

  int64_t now_ms_ = 0;

 private:
  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  bool quit_ = false;
  std::shared_ptr<Inbox> inbox_;
  std::vector<std::function<int64_t(int64_t)>> tickers_;
  int64_t next_tick_ = 0;  // earliest deadline a ticker asked for (0: none)
  std::vector<std::function<void()>> stop_hooks_;
};

}  // namespace hearth
