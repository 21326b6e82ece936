#include "http/h1_connection.h"

#include <cstring>
#include <exception>
#include <utility>

#include "base/clock.h"
#include "base/log.h"
#include "base/strings.h"
#include "http/dispatch.h"

namespace hearth {
namespace {
// Small at first (most request heads are a few hundred bytes, and idle
// connections are the many); large while a body streams in.
constexpr size_t kInitialBuffer = 4 * 1024;
constexpr size_t kBodyBuffer = 64 * 1024;
constexpr size_t kMinReadSpace = 2 * 1024;
constexpr size_t kCopySmallBody = 8 * 1024;  // smaller bodies are copied next to the head

bool StatusHasNoBody(int status) {
  return status < 200 || status == 204 || status == 304;
}

void AppendHex(std::string* out, uint64_t v) {
  char buf[20];
  int n = 0;
  do {
    buf[n++] = "0123456789abcdef"[v & 15];
    v >>= 4;
  } while (v);
  while (n) out->push_back(buf[--n]);
}
}  // namespace

H1Connection::H1Connection(const H1Context* ctx, std::string peer_ip, uint64_t id)
    : ctx_(ctx), peer_ip_(std::move(peer_ip)), id_(id) {}

H1Connection::~H1Connection() {
  AbortSink();
  if (tunnel_) std::exchange(tunnel_, nullptr)->OnEnd(false);
}

void H1Connection::AbortSink() {
  sink_paused_ = false;
  sink_buf_.clear();
  sink_off_ = 0;
  if (!sink_) return;
  auto sink = std::move(sink_);
  sink->OnEnd(false);
}

char* H1Connection::ReadBuffer(size_t* space) {
  if (rstart_ == rend_) rstart_ = rend_ = 0;
  if (rbuf_.size() < kInitialBuffer) rbuf_.resize(kInitialBuffer);
  if (rbuf_.size() - rend_ < kMinReadSpace && rstart_ > 0) {
    memmove(rbuf_.data(), rbuf_.data() + rstart_, rend_ - rstart_);
    rend_ -= rstart_;
    rstart_ = 0;
    scan_from_ = 0;
  }
  size_t cap = ctx_->limits.max_header_bytes + kInitialBuffer;
  if (rbuf_.size() - rend_ < kMinReadSpace && rbuf_.size() < cap) rbuf_.resize(cap);
  if (state_ == State::kBody && rbuf_.size() < kBodyBuffer) rbuf_.resize(kBodyBuffer);
  *space = rbuf_.size() - rend_;
  return rbuf_.data() + rend_;
}

void H1Connection::OnRead(size_t n) {
  // The rest of an abandoned body: read and dropped, so the client is not
  // stuck writing it while our answer goes out (then the connection closes).
  if (discard_input_) return;
  rend_ += n;
}

void H1Connection::OnPeerEof() {
  peer_eof_ = true;
}

void H1Connection::DiscardInput() {
  discard_input_ = true;
  rstart_ = rend_ = 0;
  scan_from_ = 0;
}

void H1Connection::Consume(size_t n) {
  rstart_ += n;
  scan_from_ = 0;
  if (rstart_ == rend_) rstart_ = rend_ = 0;
}

void H1Connection::BeginShutdown(bool close_if_idle) {
  shutting_down_ = true;
  if (close_if_idle && state_ == State::kHead && rstart_ == rend_) state_ = State::kClosing;
  if (state_ == State::kStreaming && stream_endless_) {
    if (stream_chunked_) out_.Append("0\r\n\r\n");
    stream_ = nullptr;
    stream_ok_ = nullptr;
    state_ = State::kClosing;
  }
}

void H1Connection::FailWith(int status, const char* reason) {
  if (state_ == State::kClosing || state_ == State::kStreaming || state_ == State::kWaiting) {
    reply_pending_ = false;
    state_ = State::kClosing;
    return;
  }
  req_.Reset();  // what is buffered is a partial request: log none of it
  RespondError(status, reason);
}

void H1Connection::Advance() {
  while (true) {
    if (state_ == State::kClosing || state_ == State::kWaiting) return;
    if (state_ == State::kStreaming) {
      if (tunnel_) FeedTunnel();
      PumpStream();
      if (state_ == State::kStreaming) return;
      if (tunnel_) std::exchange(tunnel_, nullptr)->OnEnd(false);  // the far side ended first
      continue;
    }
    if (Backpressured()) return;
    bool progressed = state_ == State::kHead ? StepHead() : StepBody();
    if (!progressed) {
      if (peer_eof_ && state_ != State::kClosing && !sink_paused_) {
        AbortSink();  // the peer ended mid-body
        state_ = State::kClosing;
      }
      return;
    }
  }
}

// A tunnel (after 101): what the client sent goes to the far side as it is.
void H1Connection::FeedTunnel() {
  if (sink_paused_) return;
  while (rstart_ != rend_) {
    size_t offered = rend_ - rstart_;
    size_t n = tunnel_->OnData(std::string_view(rbuf_.data() + rstart_, offered));
    Consume(n);
    if (n < offered) {
      sink_paused_ = true;  // Unpause (the Reply's Wake) offers the rest
      return;
    }
  }
  if (peer_eof_)
    std::exchange(tunnel_, nullptr)->OnEnd(true);  // half-closed: the far side may still answer
}

void H1Connection::RespondError(int status, const char* reason) {
  AbortSink();
  reply_pending_ = false;  // a deferred handler's late answer is dropped
  res_.Reset();
  res_.SetError(status, reason);
  if (req_.method_text.empty()) req_.version_minor = 1;
  Serialize(/*close=*/true);
  if (ctx_->on_request) ctx_->on_request(req_, status, out_.bytes(), 0, true);
  state_ = State::kClosing;
}

// Returns true if it made progress (a request was dispatched or a body begun).
bool H1Connection::StepHead() {
  if (rstart_ == rend_) return false;
  std::string_view view(rbuf_.data() + rstart_, rend_ - rstart_);
  req_.Reset();
  // The body's bound depends on the route, known only once the head is parsed.
  H1Limits limits = ctx_->limits;
  limits.max_body_bytes = UINT64_MAX;
  HeadResult r = ParseRequestHead(view, limits, &req_, scan_from_);
  if (r.state == ParseState::kIncomplete) {
    scan_from_ = view.size();
    return false;
  }
  if (r.state == ParseState::kError) {
    RespondError(r.status, r.reason);
    return false;
  }
  req_.start_micros = MonoNowMicros();
  if (req_.framing == BodyFraming::kNone) {
    Dispatch();
    Consume(r.consumed);
    return true;
  }
  BodyRoute route = ctx_->body_route ? ctx_->body_route(req_) : BodyRoute::kBuffer;
  bool stream = route != BodyRoute::kBuffer;
  max_body_ = route == BodyRoute::kStreamAnySize ? UINT64_MAX : ctx_->limits.max_body_bytes;
  if (req_.framing == BodyFraming::kLength && req_.content_length > max_body_) {
    RespondError(413, "request body too large");
    return false;
  }
  std::string_view after = view.substr(r.consumed);
  if (!stream && req_.framing == BodyFraming::kLength && after.size() >= req_.content_length) {
    req_.body.assign(after.data(), req_.content_length);
    Dispatch();
    Consume(r.consumed + req_.content_length);
    return true;
  }
  // The body continues in later reads: keep the head somewhere stable.
  head_store_.assign(view.data(), r.consumed);
  int64_t start = req_.start_micros;
  req_.Reset();
  ParseRequestHead(head_store_, limits, &req_);
  req_.start_micros = start;
  chunked_.Reset();
  if (stream) {
    Consume(r.consumed);
    DispatchStreaming();
    return true;
  }
  // The declared length is within max-body-size: take the memory once.
  if (req_.framing == BodyFraming::kLength) req_.body.reserve(req_.content_length);
  Consume(r.consumed);
  if (req_.expect_continue && rstart_ == rend_) out_.Append("HTTP/1.1 100 Continue\r\n\r\n");
  state_ = State::kBody;
  return true;
}

bool H1Connection::StepBody() {
  if (sink_) return StepSinkBody();
  if (rstart_ == rend_) return false;
  std::string_view in(rbuf_.data() + rstart_, rend_ - rstart_);
  if (req_.framing == BodyFraming::kLength) {
    size_t need = req_.content_length - req_.body.size();
    size_t take = in.size() < need ? in.size() : need;
    req_.body.append(in.data(), take);
    Consume(take);
    if (req_.body.size() < req_.content_length) return false;
  } else {
    size_t used = 0;
    int status = 0;
    const char* reason = "";
    ParseState st = chunked_.Feed(in, &used, &req_.body, max_body_, &status, &reason);
    Consume(used);
    if (st == ParseState::kError) {
      RespondError(status, reason);
      return false;
    }
    if (st == ParseState::kIncomplete) return false;
  }
  state_ = State::kHead;
  Dispatch();
  return true;
}

void H1Connection::Dispatch() {
  res_.Reset();
  res_.reply_factory_ = &ctx_->make_reply;
  res_.waker_factory_ = &ctx_->make_waker;
  res_.connection_id_ = id_;
  req_.peer_ip = peer_ip_;
  req_.tls = tls_;
  hearth::Dispatch(*ctx_->handler, req_, res_);
  if (res_.deferred()) {
    reply_pending_ = true;
    state_ = State::kWaiting;
    return;
  }
  Complete();
}

// The head is in head_store_ and consumed; the body follows in rbuf_.
void H1Connection::DispatchStreaming() {
  req_.body_pending = true;
  res_.Reset();
  res_.reply_factory_ = &ctx_->make_reply;
  res_.waker_factory_ = &ctx_->make_waker;
  res_.connection_id_ = id_;
  req_.peer_ip = peer_ip_;
  req_.tls = tls_;
  hearth::Dispatch(*ctx_->handler, req_, res_);
  sink_ = std::move(req_.body_sink);
  if (!res_.deferred()) {
    // Answered at the head (401, 413, ...): the body is never read, so the
    // connection cannot find the next request and ends after this response.
    AbortSink();
    force_close_ = true;
    DiscardInput();
    Complete();
    return;
  }
  reply_pending_ = true;
  if (!sink_) {
    force_close_ = true;  // deferred without taking the body
    DiscardInput();
    state_ = State::kWaiting;
    return;
  }
  sink_paused_ = false;
  sink_chunks_done_ = false;
  sink_remaining_ = req_.framing == BodyFraming::kLength ? req_.content_length : 0;
  sink_buf_.clear();
  sink_off_ = 0;
  // Only now, with a handler ready for it, is the client told to send the body.
  if (req_.expect_continue && rstart_ == rend_) out_.Append("HTTP/1.1 100 Continue\r\n\r\n");
  state_ = State::kBody;
}

// Returns true if it made progress. Pauses (false) when the sink takes less
// than it is offered; what it left is offered again after Unpause().
bool H1Connection::StepSinkBody() {
  if (sink_paused_) return false;
  if (sink_off_ < sink_buf_.size()) {
    size_t n = sink_->OnData(std::string_view(sink_buf_).substr(sink_off_));
    if (!sink_) return true;  // the sink's OnData ended the request (Resume)
    sink_off_ += n;
    if (sink_off_ < sink_buf_.size()) {
      sink_paused_ = true;
      return n > 0;
    }
    sink_buf_.clear();
    sink_off_ = 0;
    return true;
  }
  if (req_.framing == BodyFraming::kLength) {
    if (sink_remaining_ == 0) return EndSinkBody();
    if (rstart_ == rend_) return false;
    size_t take = rend_ - rstart_;
    if (take > sink_remaining_) take = static_cast<size_t>(sink_remaining_);
    size_t n = sink_->OnData(std::string_view(rbuf_.data() + rstart_, take));
    if (!sink_) return true;
    Consume(n);
    sink_remaining_ -= n;
    if (n < take) sink_paused_ = true;
    return n > 0 || sink_remaining_ == 0;
  }
  if (sink_chunks_done_) return EndSinkBody();
  if (rstart_ == rend_) return false;
  size_t used = 0;
  int status = 0;
  const char* reason = "";
  ParseState st = chunked_.Feed(std::string_view(rbuf_.data() + rstart_, rend_ - rstart_), &used,
                                &sink_buf_, max_body_, &status, &reason);
  Consume(used);
  if (st == ParseState::kError) {
    RespondError(status, reason);
    return false;
  }
  if (st == ParseState::kDone) sink_chunks_done_ = true;
  return used > 0;
}

bool H1Connection::EndSinkBody() {
  auto sink = std::move(sink_);
  sink_paused_ = false;
  state_ = reply_pending_ ? State::kWaiting : State::kHead;
  sink->OnEnd(true);
  return true;
}

void H1Connection::Resume(const std::function<void(Response&)>& fill) {
  if (!reply_pending_ || state_ == State::kClosing) return;  // answered or failed meanwhile
  reply_pending_ = false;
  if (state_ == State::kBody) {
    // Answered before the body ended (an upload refused half-way, an
    // upstream that answered early): the rest is not read.
    AbortSink();
    force_close_ = true;
    DiscardInput();
  }
  state_ = State::kHead;
  res_.Reset();
  try {
    fill(res_);
  } catch (const std::exception& e) {
    res_.Reset();
    res_.SetError(500);
  }
  Complete();
}

void H1Connection::Complete() {
  bool close = !req_.keep_alive || res_.close_connection || shutting_down_ || force_close_;
  uint64_t before = out_.bytes();
  Serialize(close);
  if (ctx_->on_request)
    ctx_->on_request(req_, res_.status, out_.bytes() - before, MonoNowMicros() - req_.start_micros,
                     false);
  if (state_ != State::kStreaming && close) state_ = State::kClosing;
}

void H1Connection::Serialize(bool close) {
  std::string& h = out_.Scratch();
  const size_t mark = h.size();  // where this head starts (earlier pieces precede it)
  int status = res_.status;
  h.append("HTTP/1.1 ");
  AppendUint(&h, static_cast<uint64_t>(status));
  h.push_back(' ');
  h.append(StatusReason(status));
  h.append("\r\nServer: hearth\r\n");
  if (ctx_->date_line) h.append(*ctx_->date_line);
  h.append(res_.fields);
  if (status == 101 && res_.upgrade_sink && res_.body_kind == Response::BodyKind::kStream &&
      req_.version_minor == 1) {
    // Switching protocols: the head (with the handler's Upgrade and
    // Connection fields), then raw bytes both ways until either side ends.
    h.append("\r\n");
    out_.CommitScratch();
    tunnel_ = std::move(res_.upgrade_sink);
    stream_ = std::move(res_.stream);
    stream_ok_ = nullptr;
    stream_chunked_ = false;
    stream_left_ = UINT64_MAX;
    stream_endless_ = true;  // like an event stream: a graceful stop ends it (clients reconnect)
    stream_status_ = status;
    req_.keep_alive = false;  // no request follows a tunnel
    state_ = State::kStreaming;
    return;
  }
  if (res_.upgrade_sink) {
    // A tunnel this exchange cannot be (HTTP/1.0, no stream, not a 101): its
    // far side learns at once, and the client gets an error, not a 101.
    std::exchange(res_.upgrade_sink, nullptr)->OnEnd(false);
    h.resize(mark);
    res_.Reset();
    res_.SetError(502, "the upstream switched protocols on a request that cannot");
    Serialize(true);
    return;
  }
  bool head = req_.method == Method::kHead;
  bool no_body = StatusHasNoBody(status);
  bool streaming = res_.body_kind == Response::BodyKind::kStream && !no_body;
  if (streaming && res_.stream_sized) {
    h.append("Content-Length: ");
    AppendUint(&h, res_.length);
    h.append("\r\n");
    stream_chunked_ = false;
    stream_left_ = res_.length;
  } else if (streaming) {
    stream_left_ = UINT64_MAX;
    if (req_.version_minor >= 1) {
      h.append("Transfer-Encoding: chunked\r\n");
      stream_chunked_ = true;
    } else {
      close = true;  // HTTP/1.0: the end of the body is the end of the connection
      stream_chunked_ = false;
    }
  } else if (!no_body) {
    h.append("Content-Length: ");
    AppendUint(&h, res_.BodyLength());
    h.append("\r\n");
  }
  if (close)
    h.append("Connection: close\r\n");
  else if (req_.version_minor == 0)
    h.append("Connection: keep-alive\r\n");
  h.append("\r\n");
  if (head || no_body) {
    out_.CommitScratch();
    if (streaming && close) state_ = State::kClosing;
    return;
  }
  switch (res_.body_kind) {
    case Response::BodyKind::kText:
      if (res_.text.size() <= kCopySmallBody) {
        h.append(res_.text);
        out_.CommitScratch();
      } else {
        out_.CommitScratch();
        auto shared = std::make_shared<const std::string>(std::move(res_.text));
        out_.AppendShared(shared, 0, shared->size());
      }
      break;
    case Response::BodyKind::kShared:
      if (res_.length <= kCopySmallBody) {
        h.append(res_.shared->data() + res_.offset, res_.length);
        out_.CommitScratch();
      } else {
        out_.CommitScratch();
        out_.AppendShared(res_.shared, res_.offset, res_.length);
      }
      break;
    case Response::BodyKind::kFile:
      out_.CommitScratch();
      out_.AppendFile(res_.file, res_.offset, res_.length);
      break;
    case Response::BodyKind::kStream:
      out_.CommitScratch();
      stream_ = std::move(res_.stream);
      stream_ok_ = std::move(res_.stream_ok);
      stream_endless_ = res_.stream_endless;
      stream_status_ = status;
      state_ = State::kStreaming;
      if (shutting_down_ && stream_endless_) BeginShutdown(false);  // stopping already: end it now
      if (close) shutting_down_ = true;                             // close once the stream ends
      break;
    case Response::BodyKind::kNone:
      out_.CommitScratch();
      break;
  }
}

void H1Connection::PumpStream() {
  std::string piece;
  // Bounded so that a producer that keeps returning empty pieces cannot spin.
  for (int i = 0; i < 1024 && out_.bytes() < kHighWater; ++i) {
    piece.clear();
    bool more = stream_(piece);
    if (piece.empty() && more) return;  // nothing yet: the stream's waker resumes it
    if (stream_left_ != UINT64_MAX) {
      // A sized body: exactly the promised bytes, or the connection ends.
      if (piece.size() > stream_left_) piece.resize(static_cast<size_t>(stream_left_));
      stream_left_ -= piece.size();
      if (!piece.empty()) out_.Append(piece);
      if (stream_left_ == 0 || !more) {
        stream_ = nullptr;
        stream_ok_ = nullptr;
        bool short_body = stream_left_ != 0;
        state_ =
            (shutting_down_ || !req_.keep_alive || short_body) ? State::kClosing : State::kHead;
        return;
      }
      continue;
    }
    if (!piece.empty()) {
      if (stream_chunked_) {
        std::string& h = out_.Scratch();
        AppendHex(&h, piece.size());
        h.append("\r\n");
        h.append(piece);
        h.append("\r\n");
        out_.CommitScratch();
      } else {
        out_.Append(piece);
      }
    }
    if (!more) {
      bool whole = !stream_ok_ || stream_ok_();
      if (stream_chunked_ && whole) out_.Append("0\r\n\r\n");
      stream_ = nullptr;
      stream_ok_ = nullptr;
      // A broken body ends the connection: the client sees it cut short.
      state_ = (shutting_down_ || !req_.keep_alive || !whole) ? State::kClosing : State::kHead;
      return;
    }
  }
}

}  // namespace hearth
