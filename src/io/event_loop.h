#pragma once
// EventLoop: what a worker's loop lends to the code that runs on it and needs
// sockets of its own (the proxy's upstream connections), or work done on it
// from elsewhere (its inbox, then Resume). Every call is made on the loop's own thread;
// nothing here is thread-safe, and nothing needs to be. Other threads hold
// the loop's Inbox (taken on the loop, or by its owner before it starts) and
// post through that: never an EventLoop* or Worker*, which may be freed.
// The loop itself is EpollLoop (io/epoll_loop.h).
#include <cstdint>
#include <functional>
#include <memory>

#include "io/inbox.h"

namespace hearth {

class Session;

// Something with a file descriptor in the loop.
class IoWatcher {
 public:
  virtual ~IoWatcher() = default;
  // The descriptor became readable, writable, hung up or failed (EPOLLIN,
  // EPOLLOUT, EPOLLRDHUP, EPOLLHUP, EPOLLERR bits). Edge-triggered: the
  // watcher reads or writes until EAGAIN before it expects another call.
  virtual void OnIo(uint32_t events) = 0;
};

class EventLoop {
 public:
  virtual ~EventLoop() = default;
  // Watches `fd` for input and output, edge-triggered, until it is closed
  // (or Unwatch). Events fetched in one turn may still name a watcher whose
  // descriptor was closed earlier in that turn: a watcher is freed only from
  // a ticker (after the turn's events), never from inside OnIo of another
  // watcher.
  virtual bool Watch(int fd, IoWatcher* watcher) = 0;
  // Stops watching `fd` without closing it.
  virtual void Unwatch(int fd) = 0;
  // The loop's clock (monotonic milliseconds), read once per turn.
  virtual int64_t NowMs() const = 0;
  // `tick` runs after every turn's events and returns the NowMs() at which it
  // wants to run again at the latest (0: no deadline of its own).
  virtual void AddTicker(std::function<int64_t(int64_t now_ms)> tick) = 0;
  // The loop's inbox: keep it (it outlives the loop) and Post through it to
  // run a function on the loop's thread, from any thread, in the order
  // posted. Posts after the loop has ended are dropped.
  virtual const std::shared_ptr<Inbox>& inbox() const = 0;
  // `hook` runs once, on the loop, when it begins a graceful stop (before
  // its connections are asked to finish): end what cannot finish by itself.
  virtual void AddStopHook(std::function<void()> hook) = 0;
  // Whether the client connection `id` (Response::connection_id_) is still
  // open: work queued for a client that left can be dropped.
  virtual bool ConnectionOpen(uint64_t id) const = 0;
  // How work posted from another thread reaches a session (a PUBLISH message,
  // a BLPOP answer): `fn` acts on the session of connection `id`
  // (SessionInfo::id), then the loop moves its bytes (flushes out(), reads or
  // waits as it now wants), as it would after a socket event. False: the
  // connection has closed and `fn` did not run.
  virtual bool Resume(uint64_t id, const std::function<void(Session&)>& fn) = 0;
};

}  // namespace hearth
