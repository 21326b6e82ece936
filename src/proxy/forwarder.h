#pragma once
// Forwarder: one worker's half of the reverse proxy. It forwards a request to
// an upstream on the worker's own event loop and streams the answer back:
//
//   client conn --Request--> Forward() --pick--> upstream conn (pooled or new)
//        ^                      | request head + body (BodySink, paused past
//        |                      v  kBufferHigh pending bytes: backpressure)
//        +--Reply/stream pull-- Exchange <--response head, body-- upstream
//
// Memory per request is bounded both ways: at most kBufferHigh bytes wait to
// go upstream (the client's body pauses) and at most kBufferHigh wait for the
// client (the upstream is not read until the client takes them).
//
// An attempt that fails before anything was sent (refused, unreachable,
// connect timeout) moves on to another upstream; one that fails on a reused
// keep-alive connection or before the answer starts is retried only for
// idempotent methods. What cannot be retried answers 502 (refused, broken,
// malformed) or 504 (timed out), with one line saying which.
#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

#include "http/request.h"
#include "http/response.h"
#include "io/event_loop.h"
#include "proxy/upstream.h"

namespace hearth::proxy {

// Counters for /_hearth/metrics, written by one worker, read by the scraper.
struct ProxyCounters {
  std::atomic<uint64_t> requests{0};         // forwarded (each client request once)
  std::atomic<uint64_t> retries{0};          // attempts after the first
  std::atomic<uint64_t> bad_gateway{0};      // answered 502
  std::atomic<uint64_t> gateway_timeout{0};  // answered 504
  std::atomic<uint64_t> connections{0};      // upstream connections opened
};

class Forwarder {
 public:
  static constexpr size_t kBufferHigh = 256 * 1024;

  explicit Forwarder(EventLoop* loop);
  ~Forwarder();
  Forwarder(const Forwarder&) = delete;
  Forwarder& operator=(const Forwarder&) = delete;

  // Forwards `req` to one of `set`'s upstreams; defers `res` and finishes it
  // when the upstream's answer starts. Takes the request body through
  // Request::body_sink when `req.body_pending` (the route streams bodies).
  void Forward(const std::shared_ptr<UpstreamSet>& set, Request& req, Response& res);

  const ProxyCounters& counters() const { return counters_; }

  // Internal: one upstream connection, and one forwarded request.
  struct Conn;
  struct Exchange;

 private:
  int64_t Tick(int64_t now);
  Conn* TakeIdle(UpstreamSet* set, int index);
  void ToPool(Conn* c);
  void CloseConn(Conn* c);
  void OnIdleIo(Conn* c, uint32_t events);

  EventLoop* loop_;
  ProxyCounters counters_;
  // Idle keep-alive connections by upstream, the most recently used last.
  std::unordered_map<const Upstream*, std::vector<Conn*>> idle_;
  std::unordered_map<Exchange*, std::shared_ptr<Exchange>> active_;
  std::vector<Conn*> closed_;  // freed on the next tick (see EventLoop::Watch)
  int64_t next_check_ = 0;
  int64_t last_log_ms_ = -1000000;
};

}  // namespace hearth::proxy
