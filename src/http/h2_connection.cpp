#include "http/h2_connection.h"

#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "base/clock.h"
#include "base/strings.h"
#include "http/dispatch.h"
#include "http/h1_parser.h"

namespace hearth {

const char kH2Preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

namespace {

constexpr size_t kReadChunk = 16 * 1024;
constexpr uint32_t kMaxContinuations = 64;
constexpr int32_t kWindow =
    1 << 20;  // per-stream receive window: uploads need more than 64 KiB in flight

bool StatusHasNoBody(int status) {
  return status < 200 || status == 204 || status == 304;
}

// The headers HTTP/2 forbids (connection-specific, RFC 9113 8.2.2).
bool HopByHop(std::string_view name) {
  for (const char* h :
       {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"})
    if (name == h) return true;
  return false;
}

}  // namespace

// One stream: its request (header strings owned here, the Request's views
// point into them) and, once answered, its response and how far it is sent.
struct H2Connection::Stream {
  int32_t id = 0;
  std::vector<std::pair<std::string, std::string>> fields;
  std::string method, path, authority, scheme;
  size_t header_bytes = 0;
  bool too_large = false;  // header list or body over its limit
  bool bad_path = false;   // :path refused by http/path.h
  Request req;
  Response res;
  bool dispatched = false;
  bool answered = false;
  // The body as it is sent.
  uint64_t sent = 0;
  std::string piece;  // kStream: pulled, not yet sent
  size_t piece_off = 0;
  bool stream_done = false;
  bool deferred_data = false;  // the data source said "nothing yet"
  std::vector<nghttp2_nv> nv;  // the response head, alive until sent
  std::vector<std::string> nv_store;
  // A streamed request body (routes whose BodyRoute is not kBuffer): the
  // request is dispatched at its head and DATA goes to `sink` as it comes.
  // Bytes the sink did not take wait in `held` and are not consumed, so flow
  // control stops the client until the sink's Wake (Unpause).
  bool streamed = false;
  std::shared_ptr<BodySink> sink;
  std::string held;
  bool body_ended = false;  // END_STREAM seen
  bool discard = false;     // the handler answered without the (rest of the) body
  bool reset_sent =
      false;  // RST_STREAM(NO_ERROR) asked the client to stop sending a discarded body
  uint64_t body_seen = 0;
  uint64_t body_limit = 0;
  ~Stream() {
    if (sink)
      std::exchange(sink, nullptr)->OnEnd(false);  // cut short: reset, or the connection ended
  }
};

namespace {

// A deferred reply for one stream: the worker's Reply for the connection,
// with the stream's id put on the Response its fill fills.
class StreamReply : public Reply {
 public:
  StreamReply(std::shared_ptr<Reply> inner, int32_t stream)
      : inner_(std::move(inner)), stream_(stream) {}
  ~StreamReply() override {
    if (!finished_) {
      int32_t sid = stream_;
      inner_->Finish([sid](Response& r) {
        r.h2_stream_ = sid;
        r.SetError(500, "the handler did not answer");
      });
    }
  }
  void Finish(std::function<void(Response&)> fill) override {
    if (finished_) return;
    finished_ = true;
    int32_t sid = stream_;
    inner_->Finish([sid, fill = std::move(fill)](Response& r) {
      fill(r);
      r.h2_stream_ = sid;
    });
  }
  void Wake() override { inner_->Wake(); }

 private:
  std::shared_ptr<Reply> inner_;
  int32_t stream_;
  bool finished_ = false;
};

}  // namespace

H2Connection::H2Connection(const H1Context* ctx, std::string peer_ip, uint64_t id)
    : ctx_(ctx), peer_ip_(std::move(peer_ip)), id_(id) {
  reply_factory_ = [this](uint64_t cid) -> std::shared_ptr<Reply> {
    if (!ctx_->make_reply) return nullptr;
    return std::make_shared<StreamReply>(ctx_->make_reply(cid), dispatching_);
  };
  nghttp2_session_callbacks* cb;
  nghttp2_session_callbacks_new(&cb);
  nghttp2_session_callbacks_set_on_begin_headers_callback(cb, OnBeginHeaders);
  nghttp2_session_callbacks_set_on_header_callback(cb, OnHeader);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cb, OnFrameRecv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, OnDataChunk);
  nghttp2_session_callbacks_set_on_stream_close_callback(cb, OnStreamClose);
  nghttp2_session_callbacks_set_on_frame_send_callback(
      cb, [](nghttp2_session* session, const nghttp2_frame* frame, void* self) -> int {
        // A complete response to a request whose body is being discarded:
        // the client is asked to stop sending it (RFC 9113 8.1), or a body
        // nobody reads could flow for as long as the client likes.
        if ((frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) ||
            !(frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
          return 0;
        auto* c = static_cast<H2Connection*>(self);
        auto it = c->streams_.find(frame->hd.stream_id);
        if (it == c->streams_.end()) return 0;
        Stream* s = it->second.get();
        if (s->discard && !s->body_ended && !s->reset_sent) {
          s->reset_sent = true;
          nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_NO_ERROR);
        }
        return 0;
      });
  nghttp2_session_callbacks_set_on_begin_frame_callback(
      cb, [](nghttp2_session*, const nghttp2_frame_hd* hd, void* self) -> int {
        auto* c = static_cast<H2Connection*>(self);
        if (hd->type == NGHTTP2_HEADERS) c->continuations_ = 0;
        if (hd->type == NGHTTP2_CONTINUATION && ++c->continuations_ > kMaxContinuations) {
          c->Abuse("continuation_flood");
          return NGHTTP2_ERR_CALLBACK_FAILURE;
        }
        return 0;
      });
  nghttp2_option* opt;
  nghttp2_option_new(&opt);
  // Control frames we owe (SETTINGS acks, PING replies) are bounded: a peer
  // that sends them faster than it reads ours is cut off by nghttp2.
  nghttp2_option_set_max_outbound_ack(opt, 1000);
  nghttp2_option_set_max_settings(opt, 32);
  // Window updates are ours to send (Consume): a streamed body's sink that
  // pauses holds the client back through flow control.
  nghttp2_option_set_no_auto_window_update(opt, 1);
  nghttp2_session_server_new2(&session_, cb, this, opt);
  nghttp2_option_del(opt);
  nghttp2_session_callbacks_del(cb);
  nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, kMaxStreams},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, static_cast<uint32_t>(kWindow)},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, static_cast<uint32_t>(ctx_->limits.max_header_bytes)},
  };
  nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings,
                          sizeof settings / sizeof settings[0]);
  nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0, 8 * kWindow);
  reset_refill_ms_ = MonoNowMillis();
}

H2Connection::~H2Connection() {
  streams_.clear();
  nghttp2_session_del(session_);
}

char* H2Connection::ReadBuffer(size_t* space) {
  rbuf_.resize(kReadChunk);
  *space = rbuf_.size();
  return rbuf_.data();
}

void H2Connection::OnRead(size_t n) {
  if (fatal_) return;
  ssize_t r = nghttp2_session_mem_recv(session_, reinterpret_cast<const uint8_t*>(rbuf_.data()), n);
  if (r < 0) {
    // A protocol error (a flood, too many CONTINUATION frames, bad framing):
    // the connection ends; nothing more is sent.
    if (r == NGHTTP2_ERR_FLOODED || r == -905 /* NGHTTP2_ERR_TOO_MANY_CONTINUATIONS */)
      Abuse("flood");
    Fatal();
  }
}

void H2Connection::OnPeerEof() {
  peer_eof_ = true;
  Fatal();
}

void H2Connection::Fatal() {
  // Terminated first, so nghttp2 sends no more DATA; the streams (which its
  // data sources point at) live until the connection is destroyed.
  if (!fatal_) nghttp2_session_terminate_session(session_, NGHTTP2_PROTOCOL_ERROR);
  fatal_ = true;
}

bool H2Connection::WantsWrite() const {
  return !fatal_ && nghttp2_session_want_write(session_);
}

void H2Connection::Abuse(const char* what) {
  if (ctx_->on_abuse) ctx_->on_abuse(what);
  nghttp2_session_terminate_session(session_, NGHTTP2_ENHANCE_YOUR_CALM);
}

bool H2Connection::ShouldClose() const {
  if (fatal_) return true;
  return !nghttp2_session_want_read(session_) && !nghttp2_session_want_write(session_);
}

void H2Connection::Advance() {
  if (peer_eof_ || fatal_) return;
  // Frames go into out_ until it holds enough to keep the socket busy.
  while (!Backpressured()) {
    const uint8_t* data = nullptr;
    ssize_t n = nghttp2_session_mem_send(session_, &data);
    if (n < 0) {
      Fatal();
      return;
    }
    if (n == 0) break;
    out_.Append(std::string_view(reinterpret_cast<const char*>(data), static_cast<size_t>(n)));
  }
}

int H2Connection::OnBeginHeaders(nghttp2_session* session, const nghttp2_frame* frame, void* self) {
  auto* c = static_cast<H2Connection*>(self);
  if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
  if (c->shutting_down_) {
    nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, frame->hd.stream_id,
                              NGHTTP2_REFUSED_STREAM);
    return 0;  // no Stream: its headers and data are ignored
  }
  auto s = std::make_unique<Stream>();
  s->id = frame->hd.stream_id;
  s->req.start_micros = MonoNowMicros();
  c->streams_[s->id] = std::move(s);
  return 0;
}

int H2Connection::OnHeader(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name,
                           size_t namelen, const uint8_t* value, size_t valuelen, uint8_t,
                           void* self) {
  auto* c = static_cast<H2Connection*>(self);
  if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
    return 0;  // trailers: dropped
  auto it = c->streams_.find(frame->hd.stream_id);
  if (it == c->streams_.end()) return 0;
  Stream& s = *it->second;
  s.header_bytes += namelen + valuelen + 32;
  if (s.header_bytes > c->ctx_->limits.max_header_bytes) {
    s.too_large = true;  // answered 431 once the block ends
    return 0;
  }
  std::string n(reinterpret_cast<const char*>(name), namelen),
      v(reinterpret_cast<const char*>(value), valuelen);
  if (n == ":method")
    s.method = std::move(v);
  else if (n == ":path")
    s.path = std::move(v);
  else if (n == ":authority")
    s.authority = std::move(v);
  else if (n == ":scheme")
    s.scheme = std::move(v);
  else if (!n.empty() && n[0] != ':')
    s.fields.emplace_back(std::move(n), std::move(v));
  return 0;
}

void H2Connection::Consume(int32_t stream_id, size_t n) {
  if (n == 0) return;
  (void)nghttp2_session_consume(session_, stream_id, n);  // also the connection's window
}

int H2Connection::OnDataChunk(nghttp2_session*, uint8_t, int32_t stream_id, const uint8_t* data,
                              size_t len, void* self) {
  auto* c = static_cast<H2Connection*>(self);
  auto it = c->streams_.find(stream_id);
  if (it == c->streams_.end()) {
    c->Consume(stream_id, len);
    return 0;
  }
  Stream& s = *it->second;
  if (s.streamed) {
    c->StreamData(&s, std::string_view(reinterpret_cast<const char*>(data), len));
    return 0;
  }
  c->Consume(stream_id, len);  // read whole: the window opens as it is stored
  if (s.too_large) return 0;
  if (s.req.body.size() + len > c->ctx_->limits.max_body_bytes ||
      c->body_bytes_ + len > c->ctx_->limits.max_body_bytes) {
    // Over the limit (for this body, or for all this connection holds):
    // 413 at its end, and nothing more of it is kept.
    s.too_large = true;
    c->body_bytes_ -= s.req.body.size();
    s.req.body.clear();
    s.req.body.shrink_to_fit();
    return 0;
  }
  s.req.body.append(reinterpret_cast<const char*>(data), len);
  c->body_bytes_ += len;
  return 0;
}

int H2Connection::OnFrameRecv(nghttp2_session* session, const nghttp2_frame* frame, void* self) {
  auto* c = static_cast<H2Connection*>(self);
  if (frame->hd.type == NGHTTP2_RST_STREAM) {
    // Rapid reset: resets are paid for from a bucket that refills slowly.
    int64_t now = MonoNowMillis();
    c->reset_tokens_ = std::min<double>(
        kResetBurst, c->reset_tokens_ + (now - c->reset_refill_ms_) * kResetsPerSecond / 1000.0);
    c->reset_refill_ms_ = now;
    if (--c->reset_tokens_ < 0) c->Abuse("rapid_reset");
    return 0;
  }
  if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) return 0;
  auto it = c->streams_.find(frame->hd.stream_id);
  if (it == c->streams_.end()) return 0;
  Stream* s = it->second.get();
  (void)session;
  if (!(frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
    // A request head with a body to follow: a streaming route takes it now.
    if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST &&
        !s->dispatched)
      c->BeginBody(s);
    return 0;
  }
  if (s->streamed) {
    s->body_ended = true;
    if (s->sink && s->held.empty()) c->EndSink(s, true);
    return 0;
  }
  if (s->dispatched) return 0;
  c->Dispatch(s);
  return 0;
}

int H2Connection::OnStreamClose(nghttp2_session*, int32_t stream_id, uint32_t, void* self) {
  auto* c = static_cast<H2Connection*>(self);
  auto it = c->streams_.find(stream_id);
  if (it == c->streams_.end()) return 0;
  Stream& s = *it->second;
  if (s.answered && c->ctx_->on_request)
    c->ctx_->on_request(s.req, s.res.status, s.sent, MonoNowMicros() - s.req.start_micros, false);
  c->body_bytes_ -= std::min<uint64_t>(c->body_bytes_, s.req.body.size());
  // Bytes a paused sink left are the connection's window too: give them back,
  // or aborted uploads would shrink it until every body on it stalls.
  if (!s.held.empty()) (void)nghttp2_session_consume_connection(c->session_, s.held.size());
  c->streams_.erase(it);  // a stream the client reset drops its response (and an SSE guard with it)
  if (c->shutting_down_ && c->streams_.empty())
    nghttp2_session_terminate_session(c->session_, NGHTTP2_NO_ERROR);
  return 0;
}

void H2Connection::Prepare(Stream* s) {
  Request& req = s->req;
  req.method_text = s->method;
  req.method = MethodFromText(s->method);
  req.version_minor = 2;
  req.target = s->path;
  size_t q = s->path.find('?');
  req.path = std::string_view(s->path).substr(0, q);
  req.query = q == std::string::npos ? std::string_view() : std::string_view(s->path).substr(q + 1);
  // Before anything tests a prefix of it (http/path.h); Refusal() answers 400.
  s->bad_path = !req.NormalizePath();
  req.authority = s->authority;
  req.peer_ip = peer_ip_;
  req.tls = tls_;
  req.keep_alive = true;
  req.content_length = req.body.size();
  req.framing = req.body.empty() ? BodyFraming::kNone : BodyFraming::kLength;
  // :authority is the host (RFC 9113 8.3.1); a host field only without it.
  if (!s->authority.empty()) req.headers.push_back({"host", s->authority});
  for (const auto& [n, v] : s->fields)
    if (n != "host" || s->authority.empty()) req.headers.push_back({n, v});
  std::string_view host = req.Header("host");
  if (size_t colon = host.rfind(':');
      colon != std::string_view::npos && host.find(']') == std::string_view::npos)
    host = host.substr(0, colon);
  req.host_lower_.clear();
  for (char ch : host) req.host_lower_.push_back(AsciiLower(ch));
  Response& res = s->res;
  res.Reset();
  res.reply_factory_ = &reply_factory_;
  res.waker_factory_ = &ctx_->make_waker;
  res.connection_id_ = id_;
}

int H2Connection::Refusal(const Stream* s) const {
  bool target_ok = true;
  for (unsigned char ch : s->path) target_ok = target_ok && ch > 0x20 && ch < 0x7f && ch != '#';
  std::string_view full_host = s->req.Header("host");
  if (s->too_large) return s->header_bytes > ctx_->limits.max_header_bytes ? 431 : 413;
  if (s->path.size() > ctx_->limits.max_target_bytes) return 414;
  if (s->method.empty() || s->path.empty() || (s->path[0] != '/' && s->path != "*") ||
      s->method == "CONNECT" || !target_ok || s->bad_path ||
      (!full_host.empty() && !IsValidHostText(full_host)))
    return 400;
  return 0;
}

void H2Connection::Dispatch(Stream* s) {
  s->dispatched = true;
  Prepare(s);
  Response& res = s->res;
  if (int status = Refusal(s)) {
    res.SetError(status,
                 status == 400 ? std::string_view("malformed HTTP/2 request") : std::string_view());
  } else {
    dispatching_ = s->id;
    hearth::Dispatch(*ctx_->handler, s->req, res);
    dispatching_ = 0;
    if (res.deferred()) return;  // Resume() answers it
  }
  Submit(s);
}

void H2Connection::BeginBody(Stream* s) {
  if (s->too_large || !ctx_->body_route) return;  // read whole (or refused at its end)
  Prepare(s);
  Request& req = s->req;
  BodyRoute route = ctx_->body_route(req);
  bool expect = EqualsIgnoreCase(req.Header("expect"), "100-continue");
  if (route == BodyRoute::kBuffer) {
    s->req.headers.clear();  // made again at the end, with the body
    if (expect) SubmitContinue(s);
    return;
  }
  // Streamed: the handler runs now and reads the body as it comes.
  s->dispatched = true;
  s->streamed = true;
  s->body_limit = route == BodyRoute::kStreamAnySize ? UINT64_MAX : ctx_->limits.max_body_bytes;
  std::string_view length = req.Header("content-length");
  uint64_t declared = 0;
  if (!length.empty() && ParseUint(length, &declared)) {
    req.framing = BodyFraming::kLength;
    req.content_length = declared;
  } else {
    req.framing = BodyFraming::kChunked;  // no length said: it ends with the stream
    req.content_length = 0;
  }
  Response& res = s->res;
  int status = Refusal(s);
  if (!status && req.framing == BodyFraming::kLength && declared > s->body_limit) status = 413;
  if (status) {
    s->discard = true;
    res.SetError(status,
                 status == 400 ? std::string_view("malformed HTTP/2 request") : std::string_view());
    Submit(s);
    return;
  }
  req.body_pending = true;
  dispatching_ = s->id;
  hearth::Dispatch(*ctx_->handler, req, res);
  dispatching_ = 0;
  s->sink = std::move(req.body_sink);
  if (!res.deferred()) {
    // Answered at the head (401, 404, ...): the body is read and dropped.
    s->discard = true;
    if (s->sink) std::exchange(s->sink, nullptr)->OnEnd(false);
    Submit(s);
    return;
  }
  if (!s->sink) {
    s->discard = true;  // deferred without taking the body
    return;
  }
  if (expect) SubmitContinue(s);
}

void H2Connection::SubmitContinue(Stream* s) {
  static const std::string kStatus = ":status", k100 = "100";
  nghttp2_nv nv = {const_cast<uint8_t*>(reinterpret_cast<const uint8_t*>(kStatus.data())),
                   const_cast<uint8_t*>(reinterpret_cast<const uint8_t*>(k100.data())),
                   kStatus.size(), k100.size(), NGHTTP2_NV_FLAG_NONE};
  nghttp2_submit_headers(session_, NGHTTP2_FLAG_NONE, s->id, nullptr, &nv, 1, nullptr);
}

void H2Connection::StreamData(Stream* s, std::string_view data) {
  if (!s->sink || s->discard) {
    Consume(s->id, data.size());  // not wanted: dropped as it comes
    return;
  }
  s->body_seen += data.size();
  if (s->body_seen > s->body_limit) {
    // Past max-body-size: the handler learns the body broke off, and the
    // client gets 413 unless the handler answered already.
    Consume(s->id, data.size() + s->held.size());
    s->held.clear();
    s->discard = true;
    EndSink(s, false);
    if (!s->answered) {
      s->res.Reset();
      s->res.SetError(413, "request body too large");
      Submit(s);
    }
    return;
  }
  if (!s->held.empty()) {
    s->held.append(data);  // paused: flow control bounds what can come
    return;
  }
  std::shared_ptr<BodySink> sink = s->sink;
  size_t n = sink->OnData(data);
  if (n > data.size()) n = data.size();
  if (!s->sink) {
    Consume(s->id, data.size());  // answered meanwhile: the rest is dropped
    return;
  }
  Consume(s->id, n);
  if (n < data.size()) s->held.assign(data.substr(n));
}

void H2Connection::EndSink(Stream* s, bool ok) {
  if (!s->sink) return;
  std::exchange(s->sink, nullptr)->OnEnd(ok);
}

void H2Connection::Resume(const std::function<void(Response&)>& fill) {
  if (fatal_) return;
  Response tmp;
  fill(tmp);
  auto it = streams_.find(static_cast<int32_t>(tmp.h2_stream_));
  if (it == streams_.end() || it->second->answered) return;  // the client reset it meanwhile
  Stream* s = it->second.get();
  tmp.reply_factory_ = nullptr;
  s->res = std::move(tmp);
  Submit(s);
}

void H2Connection::Submit(Stream* s) {
  s->answered = true;
  if (s->sink) {
    // Answered before the body ended (an upload refused half-way, an
    // upstream that answered early): the rest is read and dropped.
    Consume(s->id, s->held.size());
    s->held.clear();
    s->discard = true;
    EndSink(s, false);
  }
  Response& res = s->res;
  if (res.upgrade_sink || res.status == 101) {
    // HTTP/2 has no protocol switch: the tunnel's far side learns at once.
    if (res.upgrade_sink) std::exchange(res.upgrade_sink, nullptr)->OnEnd(false);
    res.Reset();
    res.SetError(502, "the upstream switched protocols on a request that cannot");
  }
  bool head = s->req.method == Method::kHead;
  bool no_body = StatusHasNoBody(res.status) || head;
  s->nv_store.clear();
  s->nv_store.push_back(std::to_string(res.status));
  s->nv_store.push_back("hearth");
  if (ctx_->date_line && ctx_->date_line->size() > 8) {  // "Date: ...\r\n"
    s->nv_store.push_back("date");
    s->nv_store.push_back(ctx_->date_line->substr(6, ctx_->date_line->size() - 8));
  }
  // Fields arrive serialized ("Name: value\r\n"): HTTP/2 wants them as
  // lower-case pairs, without the connection-specific ones.
  std::string_view f = res.fields;
  while (!f.empty()) {
    size_t eol = f.find("\r\n");
    std::string_view line = f.substr(0, eol);
    f.remove_prefix(eol == std::string_view::npos ? f.size() : eol + 2);
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string name;
    for (char ch : line.substr(0, colon)) name.push_back(AsciiLower(ch));
    if (HopByHop(name) || name == "content-length" || name == "server" || name == "date") continue;
    s->nv_store.push_back(std::move(name));
    s->nv_store.emplace_back(TrimOws(line.substr(colon + 1)));
  }
  bool streaming = res.body_kind == Response::BodyKind::kStream;
  if (!StatusHasNoBody(res.status) && (!streaming || res.stream_sized)) {
    s->nv_store.push_back("content-length");
    s->nv_store.push_back(std::to_string(streaming ? res.length : res.BodyLength()));
  }
  s->nv.clear();
  auto add = [s](const std::string& n, const std::string& v) {
    s->nv.push_back({const_cast<uint8_t*>(reinterpret_cast<const uint8_t*>(n.data())),
                     const_cast<uint8_t*>(reinterpret_cast<const uint8_t*>(v.data())), n.size(),
                     v.size(), NGHTTP2_NV_FLAG_NONE});
  };
  static const std::string kStatus = ":status", kServer = "server";
  add(kStatus, s->nv_store[0]);
  add(kServer, s->nv_store[1]);
  for (size_t i = 2; i + 1 < s->nv_store.size(); i += 2) add(s->nv_store[i], s->nv_store[i + 1]);
  if (no_body || (res.body_kind == Response::BodyKind::kNone)) {
    nghttp2_submit_response(session_, s->id, s->nv.data(), s->nv.size(), nullptr);
    return;
  }
  nghttp2_data_provider dp;
  dp.source.ptr = s;
  dp.read_callback = ReadBody;
  nghttp2_submit_response(session_, s->id, s->nv.data(), s->nv.size(), &dp);
}

ssize_t H2Connection::ReadBody(nghttp2_session*, int32_t, uint8_t* buf, size_t length,
                               uint32_t* flags, nghttp2_data_source* source, void* self) {
  auto* c = static_cast<H2Connection*>(self);
  auto* s = static_cast<Stream*>(source->ptr);
  Response& res = s->res;
  size_t n = 0;
  switch (res.body_kind) {
    case Response::BodyKind::kText: {
      n = std::min<uint64_t>(length, res.text.size() - s->sent);
      memcpy(buf, res.text.data() + s->sent, n);
      if (s->sent + n == res.text.size()) *flags |= NGHTTP2_DATA_FLAG_EOF;
      break;
    }
    case Response::BodyKind::kShared: {
      n = std::min<uint64_t>(length, res.length - s->sent);
      memcpy(buf, res.shared->data() + res.offset + s->sent, n);
      if (s->sent + n == res.length) *flags |= NGHTTP2_DATA_FLAG_EOF;
      break;
    }
    case Response::BodyKind::kFile: {
      size_t want = std::min<uint64_t>(length, res.length - s->sent);
      ssize_t got =
          want ? pread(res.file->fd, buf, want, static_cast<off_t>(res.offset + s->sent)) : 0;
      if (got < 0 || (want && got == 0))
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;  // the file shrank: reset the stream
      n = static_cast<size_t>(got);
      if (s->sent + n == res.length) *flags |= NGHTTP2_DATA_FLAG_EOF;
      break;
    }
    case Response::BodyKind::kStream: {
      while (s->piece_off == s->piece.size() && !s->stream_done) {
        s->piece.clear();
        s->piece_off = 0;
        if (c->shutting_down_ && res.stream_endless) {
          s->stream_done = true;
          break;
        }
        bool more = res.stream(s->piece);
        if (!more)
          s->stream_done = true;
        else if (s->piece.empty()) {
          s->deferred_data = true;  // its waker (Unpause) resumes it
          return NGHTTP2_ERR_DEFERRED;
        }
      }
      n = std::min(length, s->piece.size() - s->piece_off);
      memcpy(buf, s->piece.data() + s->piece_off, n);
      s->piece_off += n;
      if (s->stream_done && s->piece_off == s->piece.size()) {
        if (res.stream_sized && s->sent + n != res.length)
          return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;  // short: reset
        if (res.stream_ok && !res.stream_ok())
          return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;  // broke: reset
        *flags |= NGHTTP2_DATA_FLAG_EOF;
      }
      break;
    }
    case Response::BodyKind::kNone:
      *flags |= NGHTTP2_DATA_FLAG_EOF;
      break;
  }
  s->sent += n;
  return static_cast<ssize_t>(n);
}

void H2Connection::Unpause() {
  if (fatal_) return;
  // A waker: every stream waiting for its producer looks again, and every
  // paused body sink is offered what it left.
  for (auto& [id, s] : streams_) {
    if (s->deferred_data) {
      s->deferred_data = false;
      nghttp2_session_resume_data(session_, id);
    }
    if (s->sink && !s->held.empty()) {
      std::shared_ptr<BodySink> sink = s->sink;
      size_t n = std::min(sink->OnData(s->held), s->held.size());
      if (!s->sink) continue;  // answered meanwhile: Submit consumed all that was held
      Consume(id, n);
      s->held.erase(0, n);
      if (s->held.empty() && s->body_ended) EndSink(s.get(), true);
    }
  }
}

void H2Connection::BeginShutdown(bool close_if_idle) {
  if (shutting_down_ || fatal_) return;
  shutting_down_ = true;
  // GOAWAY naming the last stream taken: those finish, no new ones start.
  nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE,
                        nghttp2_session_get_last_proc_stream_id(session_), NGHTTP2_NO_ERROR,
                        nullptr, 0);
  for (auto& [id, s] : streams_)
    if (s->res.stream_endless) {
      s->deferred_data = false;
      nghttp2_session_resume_data(session_, id);
    }
  (void)close_if_idle;  // an idle HTTP/2 connection always closes: GOAWAY says so
  if (streams_.empty()) nghttp2_session_terminate_session(session_, NGHTTP2_NO_ERROR);
  Advance();  // GOAWAY and the ended streams' last frames, into out()
}

void H2Connection::FailWith(int, const char*) {
  // A timeout: GOAWAY and close (HTTP/2 has no request-level 408 to send).
  nghttp2_session_terminate_session(session_, NGHTTP2_NO_ERROR);
  Advance();
  fatal_ = true;
}

}  // namespace hearth
