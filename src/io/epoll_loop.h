#pragma once
// EpollLoop: one thread's event loop. An epoll set (edge-triggered watchers,
// level-triggered listeners), tickers, stop hooks, and an Inbox (io/inbox.h)
// through which any thread posts work to it (an eventfd wakes the loop; posts
// made on the loop's own thread skip the lock and the eventfd).
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
#include "io/inbox.h"

namespace hearth {

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
  const std::shared_ptr<Inbox>& inbox() const override { return inbox_; }
  void AddStopHook(std::function<void()> hook) override { stop_hooks_.push_back(std::move(hook)); }

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
