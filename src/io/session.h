#pragma once
// Session: one connection's protocol, with no socket in it. The worker reads
// bytes from the Transport into ReadBuffer()/OnRead(), calls Advance(),
// writes out() to the Transport, and keeps the connection's timers by what
// the session says it waits for. HTTP (h1, h2, h2c: http/http_session.h) is
// one implementation; a RESP or echo port is another.
//
// Timers: the worker owns them all. Generic, whatever the protocol: write
// (out() not empty, extended by progress), idle (Waiting() is kNothing),
// linger (after the session closes), graceful stop (Stop, bounded by the
// shutdown timeout), and "head" for a connection that sent nothing yet.
// Asked for by the session through Waiting(): head (a fixed deadline from
// its first byte), body (extended by progress), stream (a producer's pace),
// handler (work elsewhere, bounded only loosely).
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "io/out_queue.h"

namespace hearth {

// What a session is waiting for while out() is empty; picks its timer.
enum class SessionWait { kNothing, kHead, kBody, kStream, kHandler };

// A deadline the worker's timers or the body rate check found passed.
enum class Expiry { kHead, kBody, kSlowBody };

class Session {
 public:
  virtual ~Session() = default;
  // The transport's handshake is done; `protocol` is what it chose (ALPN, "" none).
  virtual void OnOpen(std::string_view /*protocol*/) {}
  // Space to read into (0: the session cannot take more: the connection closes).
  virtual char* ReadBuffer(size_t* space) = 0;
  virtual void OnRead(size_t n) = 0;
  virtual void OnPeerEof() = 0;
  // Does what it can with what it has, without blocking; output goes to out().
  virtual void Advance() = 0;
  virtual OutQueue& out() = 0;
  // Whether it takes input now (false: backpressure, or waiting for a handler).
  virtual bool WantsRead() const = 0;
  // With out() empty: whether Advance() may produce more (a stream, control frames).
  virtual bool WantsWrite() const { return false; }
  // Some of out() was written: input buffered behind it may go on (call Advance if so).
  virtual void OnWritten() {}
  // Done: the worker sends what out() holds, then lingers and closes.
  virtual bool ShouldClose() const = 0;
  virtual SessionWait Waiting() const = 0;
  // The bytes arriving now are held to the minimum body rate.
  virtual bool RateLimitedInput() const { return false; }
  // A deadline passed. True: the session answered (it will close after out()
  // is sent); false: the worker closes the connection now.
  virtual bool Expire(Expiry /*why*/) { return false; }
  // Graceful stop: finish what is in flight, then close. An idle session
  // closes at once if close_if_idle (false for one that sent nothing yet).
  virtual void Stop(bool close_if_idle) = 0;
};

// What a listener knows of a new connection.
struct SessionInfo {
  uint64_t id = 0;      // unique within the worker (EventLoop::ConnectionOpen)
  std::string peer_ip;  // "127.0.0.1", "::1"
  bool secure = false;  // TLS
};

// Makes the session of each connection a listener accepts (on the worker's thread).
using SessionFactory = std::function<std::unique_ptr<Session>(const SessionInfo&)>;

}  // namespace hearth
