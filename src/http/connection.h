#pragma once
// HttpConnection: what a worker drives, whatever the protocol (HTTP/1.1 in
// H1Connection, HTTP/2 in H2Connection). The worker feeds it bytes
// (ReadBuffer/OnRead), calls Advance(), writes out() to the socket, and hands
// deferred replies back with Resume(); handlers never know the protocol.
#include <functional>

#include "http/response.h"
#include "io/out_queue.h"

namespace hearth {

class HttpConnection {
 public:
  virtual ~HttpConnection() = default;
  virtual void SetTls(bool tls) = 0;
  virtual char* ReadBuffer(size_t* space) = 0;
  virtual void OnRead(size_t n) = 0;
  virtual void OnPeerEof() = 0;
  virtual void Advance() = 0;
  virtual OutQueue& out() = 0;
  virtual bool ShouldClose() const = 0;
  virtual bool InBody() const = 0;
  virtual bool Streaming() const = 0;
  virtual bool Waiting() const = 0;
  virtual bool BodyPaused() const = 0;
  virtual void Unpause() = 0;
  virtual void Resume(const std::function<void(Response&)>& fill) = 0;
  virtual bool HasPartialHead() const = 0;
  virtual bool Backpressured() const = 0;
  virtual bool HasBufferedInput() const = 0;
  // The body arriving goes to a handler with no bound of hearth's own (a
  // proxied upload: the upstream sets the pace and the limits).
  virtual bool BodyRateExempt() const { return false; }
  // Has frames to send though no response streams (HTTP/2 control frames).
  virtual bool WantsWrite() const { return false; }
  virtual void BeginShutdown(bool close_if_idle) = 0;
  virtual void FailWith(int status, const char* reason) = 0;
};

}  // namespace hearth
