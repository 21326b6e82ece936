#include "io/epoll_loop.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "base/clock.h"

namespace hearth {
namespace {
char kWakeTag;
}  // namespace

void Inbox::Post(std::function<void()> fn) {
  if (std::this_thread::get_id() == owner_.load(std::memory_order_relaxed)) {
    // The owner's loop looks at local_ after every turn. Close() runs after
    // the loop ended (the owner is cleared by then), so no post races it.
    if (!closed_.load(std::memory_order_relaxed)) local_.push_back(std::move(fn));
    return;
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (closed_.load(std::memory_order_relaxed)) return;
  // Only the first post since the loop last took them needs to wake it: it
  // takes everything posted when it wakes (one syscall per batch).
  bool wake = posted_.empty();
  posted_.push_back(std::move(fn));
  if (!wake) return;
  uint64_t one = 1;
  ssize_t n = write(wake_fd_, &one, sizeof one);
  (void)n;
}

void Inbox::Close() {
  std::vector<std::function<void()>> drop, drop_local;
  {
    std::lock_guard<std::mutex> lock(mu_);
    closed_.store(true);
    drop.swap(posted_);
    drop_local.swap(local_);
  }
  // Destroyed outside the lock: a function may hold something whose
  // destructor posts again (and finds the inbox closed).
}

std::vector<std::function<void()>> Inbox::Take() {
  std::vector<std::function<void()>> out;
  {
    std::lock_guard<std::mutex> lock(mu_);
    out.swap(posted_);
  }
  for (auto& fn : local_) out.push_back(std::move(fn));
  local_.clear();
  return out;
}

EpollLoop::EpollLoop() {
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  inbox_ = std::make_shared<Inbox>(wake_fd_);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = &kWakeTag;
  epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev);
  now_ms_ = MonoNowMillis();
}

EpollLoop::~EpollLoop() {
  inbox_->Close();  // posts from now on are dropped
  if (wake_fd_ >= 0) close(wake_fd_);
  if (epoll_fd_ >= 0) close(epoll_fd_);
}

bool EpollLoop::Watch(int fd, IoWatcher* watcher) {
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  ev.data.ptr = watcher;
  return epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) == 0;
}

bool EpollLoop::WatchInput(int fd, IoWatcher* watcher) {
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = watcher;
  return epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) == 0;
}

void EpollLoop::Unwatch(int fd) {
  epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
}

void EpollLoop::RefreshNow() {
  now_ms_ = MonoNowMillis();
}

void EpollLoop::RunStopHooks() {
  std::vector<std::function<void()>> hooks;
  hooks.swap(stop_hooks_);
  for (auto& hook : hooks) hook();
}

void EpollLoop::Run() {
  inbox_->SetOwner(std::this_thread::get_id());
  epoll_event events[256];
  quit_ = false;
  while (!quit_) {
    now_ms_ = MonoNowMillis();
    int64_t limit = WaitLimitMs(now_ms_);
    if (inbox_->HasLocal()) limit = 0;
    if (next_tick_ > 0 && next_tick_ - now_ms_ < limit) limit = next_tick_ - now_ms_;
    int timeout = static_cast<int>(limit < 0 ? 0 : limit);
    int n = epoll_wait(epoll_fd_, events, 256, timeout);
    now_ms_ = MonoNowMillis();
    OnTurnStart();
    bool woken = false;
    for (int i = 0; i < n; ++i) {
      void* tag = events[i].data.ptr;
      if (tag == &kWakeTag) {
        woken = true;  // handled after the batch: a posted stop closes
                       // connections whose events may still be further down it
      } else {
        static_cast<IoWatcher*>(tag)->OnIo(events[i].events);
      }
    }
    OnEvents();
    if (woken || inbox_->HasLocal()) {
      if (woken) {
        uint64_t v;
        ssize_t r = read(wake_fd_, &v, sizeof v);
        (void)r;
      }
      for (auto& fn : inbox_->Take()) fn();
    }
    OnPosted();
    if (!tickers_.empty()) {
      now_ms_ = MonoNowMillis();
      next_tick_ = 0;
      for (auto& tick : tickers_) {
        int64_t at = tick(now_ms_);
        if (at > 0 && (next_tick_ == 0 || at < next_tick_)) next_tick_ = at;
      }
    }
    OnTurnEnd();
  }
  inbox_->SetOwner({});  // a later thread may get the same id
}

}  // namespace hearth
