// One connection on the worker: the TLS handshake, moving bytes between the
// transport and the session (bounded per turn), the timers by what the
// session waits for, and the end (linger, close).
#include "server/worker_conn.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace hearth {
namespace {
constexpr int64_t kLingerMs = 2000;
constexpr uint64_t kLingerMaxBytes = 1 << 20;

void SetCork(int fd, bool* corked, bool on) {
  int v = on ? 1 : 0;
  setsockopt(fd, IPPROTO_TCP, TCP_CORK, &v, sizeof v);
  *corked = on;
}
}  // namespace

void Worker::OnConnIo(Conn* c, uint32_t events) {
  if (c->closed) return;  // closed earlier in this turn, freed at its end
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) c->readable = true;
  if (c->tls_paused) {
    // The handshake waits on a certificate, not on the socket; a client that
    // gave up meanwhile is let go now rather than when the wait ends.
    if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
      metrics_.tls_handshake_failures.Add();
      Close(c);
    }
    return;
  }
  Drive(c);
}

void Worker::SetTimer(Conn* c, int kind, int64_t deadline) {
  timers_.Set(c, kind, deadline);
}

void Worker::Rearm(Conn* c) {
  Session* s = c->session.get();
  SessionWait wait = s->Waiting();
  if (wait != SessionWait::kBody) c->body_start_ms = 0;  // see BodyTooSlow
  int kind;
  int64_t duration;
  if (!s->out().empty()) {
    kind = kTimerWrite;
    duration = write_timeout_ms_;
  } else if (wait == SessionWait::kHandler) {
    // The handler's pace, not the client's: its own deadlines apply.
    kind = kTimerWait;
    duration = kWaitMs;
  } else if (wait == SessionWait::kStream) {
    kind = kTimerStream;
    duration = kStreamIdleMs;
  } else if (wait == SessionWait::kBody) {
    kind = kTimerBody;
    duration = body_timeout_ms_;
  } else if (wait == SessionWait::kHead || c->fresh) {
    kind = kTimerHeader;
    duration = header_timeout_ms_;
  } else {
    kind = kTimerIdle;
    duration = idle_timeout_ms_;
  }
  // The header deadline is fixed from the first byte; the others move with progress.
  if (kind == c->list && kind == kTimerHeader) return;
  SetTimer(c, kind, now_ms_ + duration);
}

void Worker::Close(Conn* c) {
  timers_.Unset(c);
  conns_by_id_.erase(c->id);
  if (c->aprev)
    c->aprev->anext = c->anext;
  else
    all_head_ = c->anext;
  if (c->anext) c->anext->aprev = c->aprev;
  if (c->guard_counted) shared_->guard->Release(c->peer_ip);
  --conn_count_;
  shared_->open_connections.fetch_sub(1, std::memory_order_relaxed);
  metrics_.connections_open.Sub();
  // The session first, then the transport closes the socket; the record
  // itself lives until the turn ends (FreeClosed).
  c->session.reset();
  c->transport.reset();
  c->closed = true;
  closed_.push_back(c);
}

void Worker::FreeClosed() {
  for (Conn* c : closed_) delete c;
  closed_.clear();
}

// After our last response: stop sending, read and drop what the client still
// sends (so the kernel does not answer it with a reset that could destroy the
// response in flight), then close on EOF or after kLingerMs.
void Worker::BeginLinger(Conn* c) {
  if (c->peer_eof) {
    Close(c);
    return;
  }
  c->transport->Shutdown();
  // Corked since the handshake: the response, close_notify and FIN leave together.
  if (c->corked) SetCork(c->transport->fd(), &c->corked, false);
  c->lingering = true;
  SetTimer(c, kTimerLinger, now_ms_ + kLingerMs);
  Drive(c);
}

// The TLS handshake's next step. True: the connection is ready for its session.
bool Worker::Handshake(Conn* c) {
  // Corked: the step that completes a full handshake writes the session
  // ticket; it then leaves in one segment with this turn's response (and
  // close_notify and FIN, for a last response) instead of three or four
  // segments that each wake the client. Drive uncorks when the turn ends;
  // a step that waits uncorks at once (its flight must go now).
  if (!c->corked) SetCork(c->transport->fd(), &c->corked, true);
  Transport::Step hs = c->transport->Handshake();
  if (hs == Transport::Step::kWant || hs == Transport::Step::kPaused)
    SetCork(c->transport->fd(), &c->corked, false);
  if (hs == Transport::Step::kWant) return false;  // the header timer bounds a stalled handshake
  if (hs == Transport::Step::kPaused) {
    // Waiting for a certificate being made: the TLS side bounds the wait;
    // this timer is a backstop past it.
    if (c->list != kTimerTlsPaused)
      SetTimer(c, kTimerTlsPaused, now_ms_ + c->transport->PausedWaitMs() + 5000);
    if (paused_.empty()) paused_poll_at_ = now_ms_ + kPausedPollMs;
    if (!c->tls_paused) {
      c->tls_paused = true;
      paused_.push_back(c->id);
    }
    return false;
  }
  if (hs != Transport::Step::kDone) {
    metrics_.tls_handshake_failures.Add();
    Close(c);
    return false;
  }
  c->handshaking = false;
  metrics_.tls_handshakes.Add();
  if (c->transport->Resumed()) metrics_.tls_resumptions.Add();
  if (c->transport->HandshakeOnly()) {
    Close(c);
    return false;
  }
  c->session->OnOpen(c->transport->Protocol());
  // The request may have come with the handshake's last flight: read
  // without waiting for another edge.
  c->readable = true;
  return true;
}

void Worker::Drive(Conn* c) {
  if (c->lingering) {
    char buf[4096];
    while (true) {
      ssize_t n = read(c->transport->fd(), buf, sizeof buf);
      if (n > 0) {
        c->lingered += static_cast<uint64_t>(n);
        if (c->lingered > kLingerMaxBytes) break;
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) return;
      break;  // EOF or error
    }
    Close(c);
    return;
  }
  if (c->handshaking && !Handshake(c)) return;
  Session* s = c->session.get();
  Transport* t = c->transport.get();
  bool progress_any = false;
  bool exhausted = true;
  // Bounded, so one busy connection cannot starve the others; if it still has
  // work when the bound is hit, it goes on the `again_` list.
  for (int iter = 0; iter < 64; ++iter) {
    bool progress = false;
    if (!s->out().empty()) {
      uint64_t written = 0;
      auto r = t->Flush(s->out(), &written);
      if (written) {
        metrics_.bytes_out.Add(written);
        progress = true;
      }
      if (r == OutQueue::FlushResult::kError) {
        Close(c);
        return;
      }
      if (written) s->OnWritten();
    }
    if (s->out().empty() && s->WantsWrite()) {
      s->Advance();
      if (!s->out().empty()) progress = true;
    }
    if (c->readable && s->WantsRead()) {
      size_t space = 0;
      char* buf = s->ReadBuffer(&space);
      if (space == 0) {
        Close(c);
        return;
      }
      Transport::ReadResult r = t->Read(buf, space);
      switch (r.kind) {
        case Transport::ReadResult::kData:
          c->fresh = false;
          metrics_.bytes_in.Add(r.n);
          if (shared_->guard && s->RateLimitedInput() && BodyTooSlow(c, r.n)) {
            s->Expire(Expiry::kSlowBody);
            progress = true;
            continue;
          }
          s->OnRead(r.n);
          if (r.drained) c->readable = false;  // no EAGAIN read needed to know
          s->Advance();
          progress = true;
          break;
        case Transport::ReadResult::kEof:
          c->readable = false;
          c->peer_eof = true;
          s->OnPeerEof();
          s->Advance();
          progress = true;
          break;
        case Transport::ReadResult::kAgain:
          c->readable = false;
          break;
        case Transport::ReadResult::kRetry:
          break;  // `readable` stays set: the next edge of any kind reads again
        case Transport::ReadResult::kError:
          Close(c);
          return;
      }
    }
    if (!progress) {
      exhausted = false;
      break;
    }
    progress_any = true;
  }
  if (exhausted) again_.push_back(c->id);
  if (s->ShouldClose() && s->out().empty()) {
    BeginLinger(c);
    return;
  }
  if (c->corked) SetCork(c->transport->fd(), &c->corked, false);
  if (progress_any || c->list < 0) Rearm(c);
}

// A body must average min-body-rate after a grace period (a slow POST holds a
// connection for as long as it trickles). Time spent paused by the handler
// (a busy upstream) is not the client's: timing restarts after a pause.
bool Worker::BodyTooSlow(Conn* c, uint64_t n) {
  uint64_t min_rate = shared_->guard->policy().min_body_rate;
  if (min_rate == 0) return false;
  if (c->body_start_ms == 0) {
    c->body_start_ms = now_ms_;
    c->body_bytes = 0;
  }
  c->body_bytes += n;
  int64_t elapsed = now_ms_ - c->body_start_ms;
  constexpr int64_t kGraceMs = 10000;
  if (elapsed < kGraceMs) return false;
  if (c->body_bytes * 1000 / static_cast<uint64_t>(elapsed) >= min_rate) return false;
  shared_->guard->Count(guard::Reason::kSlowBody, c->peer_ip);
  return true;
}

void Worker::Sweep() {
  for (int kind = 0; kind < kTimerCount; ++kind) {
    while (TimerNode* head = timers_.Head(kind)) {
      if (head->deadline > now_ms_) break;
      Conn* c = Conn::Of(head);
      switch (kind) {
        case kTimerHeader:
          metrics_.timeouts[static_cast<int>(TimeoutKind::kHeader)].Add();
          if (!c->handshaking && c->session->Expire(Expiry::kHead))
            Drive(c);  // a 408
          else
            Close(c);
          break;
        case kTimerBody:
          metrics_.timeouts[static_cast<int>(TimeoutKind::kBody)].Add();
          if (c->session->Expire(Expiry::kBody))
            Drive(c);
          else
            Close(c);
          break;
        case kTimerIdle:
          metrics_.timeouts[static_cast<int>(TimeoutKind::kIdle)].Add();
          Close(c);
          break;
        case kTimerWrite:
          metrics_.timeouts[static_cast<int>(TimeoutKind::kWrite)].Add();
          Close(c);
          break;
        default:
          Close(c);
          break;
      }
      // Whatever happened, it must be off this list now (or pushed later).
      TimerNode* now_head = timers_.Head(kind);
      if (now_head == head && head->deadline <= now_ms_) Close(c);
    }
  }
}

}  // namespace hearth
