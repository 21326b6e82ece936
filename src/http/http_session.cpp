#include "http/http_session.h"

#include <cstring>

#include "http/h2_connection.h"

namespace hearth {

HttpSession::HttpSession(const H1Context* ctx, const SessionInfo& info)
    : ctx_(ctx),
      peer_ip_(info.peer_ip),
      id_(info.id),
      secure_(info.secure),
      http_(std::make_unique<H1Connection>(ctx, info.peer_ip, info.id)) {
  http_->SetTls(secure_);
}

void HttpSession::SwitchToH2() {
  http_ = std::make_unique<H2Connection>(ctx_, peer_ip_, id_);
  http_->SetTls(secure_);
  if (stopping_) http_->BeginShutdown(false);  // it missed Stop as HTTP/1
}

void HttpSession::OnOpen(std::string_view protocol) {
  if (protocol != "h2") return;
  SwitchToH2();
  http_->Advance();  // our SETTINGS go first
}

void HttpSession::OnRead(size_t n) {
  if (!fresh_) {
    http_->OnRead(n);
    return;
  }
  fresh_ = false;
  size_t space = 0;
  char* buf = http_->ReadBuffer(&space);  // where the worker just read `n` bytes
  if (secure_ || n < kH2PrefaceLength || memcmp(buf, kH2Preface, kH2PrefaceLength) != 0) {
    http_->OnRead(n);
    return;
  }
  // HTTP/2 with prior knowledge (h2c): the connection's first bytes are the
  // preface. They move to the HTTP/2 side, which reads them anew.
  std::string first(buf, n);
  SwitchToH2();
  size_t done = 0;
  while (done < n) {
    size_t room = 0;
    char* into = http_->ReadBuffer(&room);
    if (room == 0) break;
    size_t take = n - done < room ? n - done : room;
    memcpy(into, first.data() + done, take);
    http_->OnRead(take);
    done += take;
  }
}

SessionWait HttpSession::Waiting() const {
  if (http_->Waiting() || http_->BodyPaused()) return SessionWait::kHandler;  // the handler's pace
  if (http_->Streaming()) return SessionWait::kStream;
  if (http_->InBody()) return SessionWait::kBody;
  if (http_->HasPartialHead()) return SessionWait::kHead;
  return SessionWait::kNothing;
}

bool HttpSession::Expire(Expiry why) {
  switch (why) {
    case Expiry::kHead:
      if (!http_->HasPartialHead()) return false;  // nothing asked: just close
      http_->FailWith(408, "request head not received in time");
      return true;
    case Expiry::kBody:
      http_->FailWith(408, "request body not received in time");
      return true;
    case Expiry::kSlowBody:
      http_->FailWith(408, "request body too slow");
      return true;
  }
  return false;
}

void HttpSession::Stop(bool close_if_idle) {
  stopping_ = true;
  http_->BeginShutdown(close_if_idle);
}

void HttpSession::Deliver(const std::function<void(Response&)>& fill) {
  if (fill)
    http_->Resume(fill);
  else
    http_->Unpause();  // a Wake(): the body sink is ready for more
}

}  // namespace hearth
