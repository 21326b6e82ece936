#pragma once
// Admission: a bound on expensive work in flight on one worker (proxied
// requests, the data API), with a bounded queue in front of it. Past the
// bound a request waits; past the queue or the wait it is answered 503 with
// Retry-After at once, instead of piling up until everything is slow. Cheap
// work (static files) never passes through here, so it never waits behind
// expensive work.
//
//   arrival --slot free--> run now                       (in flight +1)
//           --queue full--> 503
//           --else--------> parked: the request copied, the response
//                           deferred, a streamed body paused
//   slot freed (the answer started) --> the oldest parked runs
//   parked longer than the wait      --> 503
//
// One per worker, on its thread; answers finished on other threads (a store
// write) free their slot through an atomic, and the worker's tick admits the
// next.
#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>

#include "guard/guard.h"
#include "http/router.h"
#include "io/event_loop.h"

namespace hearth::guard {

class Admission {
 public:
  // The bounds are the guard's policy's (live settings); it counts refusals.
  Admission(EventLoop* loop, Guard* guard);
  ~Admission();
  Admission(const Admission&) = delete;
  Admission& operator=(const Admission&) = delete;

  // Runs `handler(req, res)` now, or later (the response deferred), or
  // answers 503. The handler sees the same Request fields either way.
  void Run(Request& req, Response& res, const Handler& handler);

  int64_t in_flight() const { return in_flight_->load(); }
  size_t queued() const { return queue_.size(); }

 private:
  struct Parked;
  int64_t Tick(int64_t now);
  void Start(Parked& p);

  EventLoop* loop_;
  Guard* guard_;
  // Shared with the Replies that hold a slot, which may outlive this.
  std::shared_ptr<std::atomic<int64_t>> in_flight_;
  std::deque<std::unique_ptr<Parked>> queue_;
};

}  // namespace hearth::guard
