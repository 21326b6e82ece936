#pragma once
// HttpSession: HTTP as a Session (io/session.h). It holds the connection's
// protocol state, HTTP/1.1 (H1Connection) until the TLS handshake chose "h2"
// (ALPN) or a plain connection's first bytes are the HTTP/2 preface (h2c with
// prior knowledge), then HTTP/2 (H2Connection). The worker's timers map onto
// HTTP's: head, body (and the minimum body rate), a streamed response, a
// deferred handler; a deadline that passes mid-request is answered with 408.
#include <memory>
#include <string>

#include "http/connection.h"
#include "http/h1_connection.h"
#include "io/session.h"

namespace hearth {

class HttpSession : public Session {
 public:
  HttpSession(const H1Context* ctx, const SessionInfo& info);

  void OnOpen(std::string_view protocol) override;
  char* ReadBuffer(size_t* space) override { return http_->ReadBuffer(space); }
  void OnRead(size_t n) override;
  void OnPeerEof() override { http_->OnPeerEof(); }
  void Advance() override { http_->Advance(); }
  OutQueue& out() override { return http_->out(); }
  bool WantsRead() const override {
    return !http_->ShouldClose() && !http_->Backpressured() && !http_->Waiting() &&
           !http_->BodyPaused();
  }
  bool WantsWrite() const override { return http_->Streaming() || http_->WantsWrite(); }
  void OnWritten() override {
    // Room again: requests already buffered behind a large response go on.
    if (http_->HasBufferedInput() && !http_->Backpressured()) http_->Advance();
  }
  bool ShouldClose() const override { return http_->ShouldClose(); }
  SessionWait Waiting() const override;
  bool RateLimitedInput() const override { return http_->InBody() && !http_->BodyRateExempt(); }
  bool Expire(Expiry why) override;
  void Stop(bool close_if_idle) override;

  // A deferred handler's answer (`fill`), or with null its wake-up (the body
  // sink is ready for more). The caller calls Advance() after.
  void Deliver(const std::function<void(Response&)>& fill);

 private:
  void SwitchToH2();

  const H1Context* ctx_;
  std::string peer_ip_;
  uint64_t id_;
  bool secure_;
  bool fresh_ = true;      // no byte read yet
  bool stopping_ = false;  // Stop() was called (a switch to HTTP/2 carries it over)
  std::unique_ptr<HttpConnection> http_;
};

}  // namespace hearth
