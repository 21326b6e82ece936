#include "proxy/forwarder.h"

#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/log.h"
#include "base/strings.h"
#include "http/h1_parser.h"

namespace hearth::proxy {
namespace {
constexpr size_t kReadChunk = 64 * 1024;
constexpr size_t kMaxIdlePerUpstream = 64;
// Below the keep-alive timeouts upstreams commonly use (Node's is 5 s), so a
// pooled connection is closed by us before the upstream closes it under a
// request.
constexpr int64_t kPoolIdleMs = 4000;
constexpr int kMaxAttempts = 3;
constexpr int64_t kCheckEveryMs = 50;

// Hop-by-hop fields (RFC 9110 §7.6.1) and the ones hearth sets itself.
bool DropRequestField(std::string_view name) {
  static constexpr std::string_view kDrop[] = {"connection",
                                               "keep-alive",
                                               "proxy-connection",
                                               "te",
                                               "trailer",
                                               "transfer-encoding",
                                               "upgrade",
                                               "content-length",
                                               "host",
                                               "expect",
                                               "x-forwarded-for",
                                               "x-forwarded-proto",
                                               "x-forwarded-host",
                                               "forwarded",
                                               "proxy-authorization"};
  for (auto d : kDrop)
    if (EqualsIgnoreCase(name, d)) return true;
  return false;
}

bool DropResponseField(std::string_view name) {
  static constexpr std::string_view kDrop[] = {
      "connection",        "keep-alive", "proxy-connection", "te",   "trailer",
      "transfer-encoding", "upgrade",    "content-length",   "date", "server",
      "proxy-authenticate"};
  for (auto d : kDrop)
    if (EqualsIgnoreCase(name, d)) return true;
  return false;
}

// Whether `name` is one of the tokens a Connection field listed.
bool Listed(const std::vector<std::string_view>& tokens, std::string_view name) {
  for (auto t : tokens)
    if (EqualsIgnoreCase(t, name)) return true;
  return false;
}

void ConnectionTokens(std::string_view value, std::vector<std::string_view>* out) {
  while (!value.empty()) {
    size_t comma = value.find(',');
    std::string_view t = TrimOws(value.substr(0, comma));
    if (!t.empty()) out->push_back(t);
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
}

// Counters have one writer (this worker): a load and a store, no locked add.
void Bump(std::atomic<uint64_t>& c) {
  c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

bool Idempotent(Method m) {
  return m == Method::kGet || m == Method::kHead || m == Method::kPut || m == Method::kDelete ||
         m == Method::kOptions;
}

void AppendHex(std::string* s, size_t n) {
  char buf[20];
  int len = 0;
  do {
    buf[len++] = "0123456789abcdef"[n & 15];
    n >>= 4;
  } while (n);
  while (len) s->push_back(buf[--len]);
}

}  // namespace

struct Forwarder::Conn : IoWatcher {
  Forwarder* fw = nullptr;
  int fd = -1;
  std::shared_ptr<UpstreamSet> set;  // keeps `upstream` alive
  Upstream* upstream = nullptr;
  Exchange* owner = nullptr;  // null while idle in the pool
  bool connected = false;
  bool reused = false;
  // An input edge came and no read has found the socket drained since: reads
  // are tried only then (an output-only edge costs no syscall).
  bool readable = false;
  bool dead = false;
  int64_t idle_since = 0;
  void OnIo(uint32_t events) override;
};

struct Forwarder::Exchange : std::enable_shared_from_this<Exchange> {
  Forwarder* fw = nullptr;
  std::shared_ptr<UpstreamSet> set;
  std::shared_ptr<Reply> reply;
  std::function<void()> waker;
  std::string client_ip;
  bool idempotent = false;
  bool head_method = false;

  // Request side. `out` holds the head and the body bytes not yet written
  // (from out_off); while `replayable`, it holds everything from the first
  // byte, so another attempt can send it again.
  std::string out;
  size_t out_off = 0;
  bool replayable = true;
  bool chunk_upstream = false;  // ...and is re-framed as chunked
  bool body_done = false;
  bool sink_paused = false;
  bool upgrade = false;  // the client asked to switch protocols (WebSocket)
  bool tunnel = false;   // ...and the upstream agreed: raw bytes both ways
  bool half_close =
      false;  // the client is done sending: shut the upstream's write side once flushed

  // The attempt.
  int index = -1;
  uint64_t tried = 0;
  int attempts = 0;
  bool fresh_only = false;  // a reused connection failed: the next attempt dials
  Conn* conn = nullptr;
  int64_t deadline = 0;
  const char* last_why = nullptr;  // the previous attempt's failure
  int last_status = 502;

  // Response side.
  std::string rbuf;  // bytes before the end of the head
  ResponseHead head;
  bool head_done = false;
  bool got_byte = false;
  ChunkedDecoder chunked;
  uint64_t body_left = 0;
  std::string body;  // decoded bytes the client has not taken
  bool resp_done = false;
  bool resp_failed = false;
  bool extra = false;         // bytes past the answer's end: the connection is not reused
  bool write_failed = false;  // the upstream stopped taking the request
  bool sent_any = false;      // this attempt put request bytes on the wire
  bool reading_paused = false;
  bool answered = false;  // the Reply is finished
  bool finished = false;  // off the active list; the upstream connection released
  bool client_gone = false;

  Upstream& up() { return set->at(static_cast<size_t>(index)); }
  void Start();
  void OnIo(uint32_t events);
  void Pump();  // writes what is pending, reads what arrived
  void Write();
  void Read();
  bool OnBytes(const char* data, size_t n);  // false: the exchange ended
  // `rest`: the bytes that followed the head; a whole small body among them
  // is taken (and `rest` emptied) so the answer goes out in one piece.
  void OnHead(std::string& rest);
  void AttemptFailed(const char* why, bool retry_ok, bool count_failure, int status);
  void Respond(int status, const char* why);
  void Release(bool keep);
  void Done();
  size_t Pending() const { return out.size() - out_off; }
  void ArmIdleOrFirstByte();
  // The body sink's side.
  size_t OnData(std::string_view bytes);
  void OnBodyEnd(bool ok);
  // The client's side of the answer.
  bool Pull(std::string& piece);
  void ClientGone();
};

void Forwarder::Conn::OnIo(uint32_t events) {
  if (dead) return;
  if (owner)
    owner->OnIo(events);
  else
    fw->OnIdleIo(this, events);
}

namespace {
// Held by what the client's connection keeps of an answer (its fill and its
// stream): when the connection lets go, the exchange learns the client is gone.
struct ClientHold {
  std::shared_ptr<Forwarder::Exchange> ex;
  ~ClientHold();
};

class Sink : public BodySink {
 public:
  explicit Sink(std::shared_ptr<Forwarder::Exchange> ex) : ex_(std::move(ex)) {}
  size_t OnData(std::string_view bytes) override;
  void OnEnd(bool ok) override;

 private:
  std::shared_ptr<Forwarder::Exchange> ex_;
};
}  // namespace

ClientHold::~ClientHold() {
  ex->ClientGone();
}
size_t Sink::OnData(std::string_view bytes) {
  return ex_->OnData(bytes);
}
void Sink::OnEnd(bool ok) {
  ex_->OnBodyEnd(ok);
}

Forwarder::Forwarder(EventLoop* loop) : loop_(loop) {
  loop_->AddTicker([this](int64_t now) { return Tick(now); });
}

Forwarder::~Forwarder() {
  // The loop is gone (its connections closed first): only descriptors and memory.
  for (auto& [ex, keep] : active_) {
    if (ex->conn) {
      close(ex->conn->fd);
      delete ex->conn;
      ex->conn = nullptr;
    }
    ex->finished = true;
  }
  active_.clear();
  for (auto& [u, list] : idle_)
    for (Conn* c : list) {
      close(c->fd);
      delete c;
    }
  for (Conn* c : closed_) delete c;
}

void Forwarder::Forward(const std::shared_ptr<UpstreamSet>& set, Request& req, Response& res) {
  auto ex = std::make_shared<Exchange>();
  ex->fw = this;
  ex->set = set;
  ex->reply = res.Defer();
  if (!ex->reply) {
    res.SetError(500, "this connection cannot wait for an upstream");
    return;
  }
  ex->waker = res.MakeWaker();
  ex->client_ip = std::string(req.peer_ip);
  ex->idempotent = Idempotent(req.method);
  ex->head_method = req.method == Method::kHead;
  Bump(counters_.requests);

  // The request head, as the upstream will see it.
  std::string& o = ex->out;
  o.reserve(512 + req.body.size());
  o.append(req.method_text).push_back(' ');
  o.append(req.path);
  if (!req.query.empty()) o.append("?").append(req.query);
  o.append(" HTTP/1.1\r\nHost: ").append(req.authority).append("\r\n");
  std::vector<std::string_view> listed;
  for (const auto& h : req.headers)
    if (EqualsIgnoreCase(h.name, "connection")) ConnectionTokens(h.value, &listed);
  // An HTTP/1.1 Upgrade (WebSocket) is forwarded; the answer may turn the
  // exchange into a tunnel. HTTP/2 has no Upgrade (and h2c is hearth's own).
  std::string_view upgrade = req.Header("upgrade");
  bool upgrading = req.version_minor == 1 && !upgrade.empty() && Listed(listed, "upgrade") &&
                   !EqualsIgnoreCase(TrimOws(upgrade), "h2c");
  if (upgrading) {
    o.append("Connection: upgrade\r\nUpgrade: ").append(upgrade).append("\r\n");
    ex->upgrade = true;
  }
  std::string cookies;  // HTTP/2 splits them; HTTP/1.1 wants one field
  for (const auto& h : req.headers) {
    // A name with '_' is dropped (as nginx's `underscores_in_headers off`):
    // CGI, WSGI, Rack and PHP turn '-' and '_' alike into '_', so
    // "X_Forwarded_For" would reach the app as the X-Forwarded-For set below.
    if (h.name.find('_') != std::string_view::npos) continue;
    if (DropRequestField(h.name) || Listed(listed, h.name)) continue;
    if (EqualsIgnoreCase(h.name, "cookie")) {
      // hearth's console session cookie is never an upstream's business:
      // over HTTPS it is a __Host- cookie (Path=/), which the browser also
      // sends to a default site that shares the console's host.
      std::string_view rest = h.value;
      while (!rest.empty()) {
        size_t semi = rest.find(';');
        std::string_view pair = TrimOws(rest.substr(0, semi));
        rest = semi == std::string_view::npos ? std::string_view() : rest.substr(semi + 1);
        std::string_view name = TrimOws(pair.substr(0, pair.find('=')));
        if (pair.empty() || name == "__Host-hearth_admin" || name == "hearth_admin") continue;
        if (!cookies.empty()) cookies.append("; ");
        cookies.append(pair);
      }
      continue;
    }
    o.append(h.name).append(": ").append(h.value).append("\r\n");
  }
  if (!cookies.empty()) o.append("Cookie: ").append(cookies).append("\r\n");
  // From a trusted proxy (the guard resolved the client through it), its
  // forwarded fields are extended; from anyone else they are replaced.
  bool via_trusted = !req.client_ip.empty();
  std::string prior_for;  // every line of it, in order
  if (via_trusted)
    for (const auto& h : req.headers)
      if (EqualsIgnoreCase(h.name, "x-forwarded-for")) {
        if (!prior_for.empty()) prior_for.append(", ");
        prior_for.append(h.value);
      }
  std::string_view prior_proto = via_trusted ? req.Header("x-forwarded-proto") : std::string_view();
  std::string_view prior_host = via_trusted ? req.Header("x-forwarded-host") : std::string_view();
  o.append("X-Forwarded-For: ");
  if (!prior_for.empty()) o.append(prior_for).append(", ");
  o.append(req.peer_ip).append("\r\n");
  o.append("X-Forwarded-Proto: ")
      .append(!prior_proto.empty() ? prior_proto : (req.tls ? "https" : "http"))
      .append("\r\n");
  o.append("X-Forwarded-Host: ")
      .append(!prior_host.empty() ? prior_host : req.authority)
      .append("\r\n");
  if (req.body_pending) {
    if (req.framing == BodyFraming::kLength) {
      o.append("Content-Length: ").append(std::to_string(req.content_length)).append("\r\n\r\n");
    } else {
      o.append("Transfer-Encoding: chunked\r\n\r\n");
      ex->chunk_upstream = true;
    }
    req.body_sink = std::make_shared<Sink>(ex);
  } else {
    if (!req.body.empty() || req.method == Method::kPost || req.method == Method::kPut ||
        req.method == Method::kPatch)
      o.append("Content-Length: ").append(std::to_string(req.body.size())).append("\r\n");
    o.append("\r\n");
    o.append(req.body);
    ex->body_done = true;
  }
  active_[ex.get()] = ex;
  ex->Start();
}

void Forwarder::Exchange::Start() {
  int64_t now = fw->loop_->NowMs();
  index = set->Pick(client_ip, tried, now);
  if (index < 0) {
    if (last_why)
      Respond(last_status, last_why);  // what the others said is the story
    else
      Respond(502, "no upstream is available (all are down)");
    return;
  }
  ++attempts;
  if (attempts > 1) Bump(fw->counters_.retries);
  up().active.fetch_add(1, std::memory_order_relaxed);
  out_off = 0;
  Conn* c = fresh_only ? nullptr : fw->TakeIdle(set.get(), index);
  if (c) {
    c->owner = this;
    conn = c;
    deadline = now + set->config().idle_timeout_ms;
    OnIo(EPOLLOUT);  // writable already: no edge will come
    return;
  }
  const Upstream& u = up();
  int fd = socket(u.addr.storage.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    AttemptFailed("cannot open a socket to the upstream", false, false, 502);
    return;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  c = new Conn();
  c->fw = fw;
  c->fd = fd;
  c->set = set;
  c->upstream = &up();
  c->owner = this;
  conn = c;
  Bump(fw->counters_.connections);
  if (connect(fd, reinterpret_cast<const sockaddr*>(&u.addr.storage), u.addr.len) != 0 &&
      errno != EINPROGRESS) {
    AttemptFailed("upstream refused the connection", true, true, 502);
    return;
  }
  deadline = now + set->config().connect_timeout_ms;
  fw->loop_->Watch(fd, c);  // the first edge says whether the connect worked
}

void Forwarder::Exchange::OnIo(uint32_t events) {
  auto self = shared_from_this();  // an attempt may end the exchange
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) conn->readable = true;
  if (!conn->connected) {
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(conn->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
    if (err != 0 || (events & (EPOLLERR | EPOLLHUP))) {
      AttemptFailed("upstream refused the connection", true, true, 502);
      return;
    }
    if (!(events & EPOLLOUT)) return;
    conn->connected = true;
    ArmIdleOrFirstByte();
  }
  if (finished) return;
  Pump();
}

void Forwarder::Exchange::Pump() {
  auto self = shared_from_this();
  if (!write_failed) Write();
  if (finished || !conn) return;
  Read();
  if (finished || !conn || !write_failed || head_done) return;
  // Sending failed and no answer came: a stale pooled connection, or an
  // upstream that went away mid-request.
  // A request the upstream may have acted on is retried only if repeating it
  // is harmless (idempotent), or if not one byte of it left.
  bool stale = conn->reused && !got_byte;
  AttemptFailed("upstream closed the connection", !got_byte && (idempotent || !sent_any), !stale,
                502);
}

void Forwarder::Exchange::ArmIdleOrFirstByte() {
  int64_t now = fw->loop_->NowMs();
  const ProxyConfig& c = set->config();
  if (!head_done && body_done && Pending() == 0)
    deadline = now + c.first_byte_timeout_ms;
  else if (reading_paused && head_done)
    deadline = 0;  // the client's pace; its own timeouts apply
  else
    deadline = now + c.idle_timeout_ms;
}

void Forwarder::Exchange::Write() {
  bool wrote = false;
  while (Pending() > 0) {
    ssize_t n = send(conn->fd, out.data() + out_off, Pending(), MSG_NOSIGNAL);
    if (n > 0) {
      out_off += static_cast<size_t>(n);
      wrote = true;
      sent_any = true;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) break;
    // Reset or closed under us. An answer it managed to send may still be
    // there to read (an early 413): Pump reads before it decides.
    write_failed = true;
    return;
  }
  if (!wrote) return;
  if (Pending() == 0 && half_close) {
    shutdown(conn->fd, SHUT_WR);  // the client is done sending; the upstream may still answer
    half_close = false;
  }
  if (!replayable || out_off > kBufferHigh) {
    // Past what a retry may resend: what went out is dropped.
    out.erase(0, out_off);
    out_off = 0;
    replayable = false;
  }
  ArmIdleOrFirstByte();
  if (sink_paused && Pending() < kBufferHigh / 2) {
    sink_paused = false;
    // The client's bytes flow again. The waker, not Reply::Wake: a tunnel's
    // reply is finished already.
    if (waker)
      waker();
    else
      reply->Wake();
  }
}

void Forwarder::Exchange::Read() {
  char buf[kReadChunk];
  while (!finished && !reading_paused && conn->readable) {
    ssize_t n = recv(conn->fd, buf, sizeof buf, 0);
    if (n > 0) {
      got_byte = true;
      // A short read drained the socket: the next arrival brings a new edge.
      if (static_cast<size_t>(n) < sizeof buf) conn->readable = false;
      Conn* reading = conn;
      if (!OnBytes(buf, static_cast<size_t>(n))) return;
      if (conn != reading) return;  // a new attempt took over
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) {
      conn->readable = false;
      return;
    }
    // The upstream's end (n == 0), or a reset (n < 0).
    if (!head_done) {
      if (got_byte) {
        AttemptFailed("upstream closed the connection mid-answer", false, true, 502);
      } else {
        bool stale = conn->reused;
        AttemptFailed("upstream closed the connection without answering", idempotent || !sent_any,
                      !stale, 502);
      }
      return;
    }
    // Only a clean end completes a body that runs to the close; a reset cuts
    // it short, and the client must see it cut short.
    if (head.until_close && (n == 0 || tunnel))
      resp_done = true;
    else
      resp_failed = true;
    Release(false);
    if (waker) waker();
    return;
  }
}

// Feeds response bytes; false once the exchange ended.
bool Forwarder::Exchange::OnBytes(const char* data, size_t n) {
  std::string_view in(data, n);
  std::string rest;  // what followed the head, when `in` was parsed as one
  if (!head_done) {
    size_t scanned = rbuf.size();
    rbuf.append(in);
    while (true) {
      H1Limits limits;
      limits.max_header_bytes = 64 * 1024;
      HeadResult r = ParseResponseHead(rbuf, limits, &head, scanned);
      if (r.state == ParseState::kIncomplete) return true;
      if (r.state == ParseState::kError) {
        AttemptFailed(r.reason, false, true, 502);
        return false;
      }
      if (head.status < 200 && !(head.status == 101 && upgrade)) {
        // An interim answer (100 Continue, 103 Early Hints): the real one
        // follows. A 101 nobody asked for is a broken upstream.
        if (head.status == 101) {
          AttemptFailed("upstream switched protocols unasked", false, true, 502);
          return false;
        }
        rbuf.erase(0, r.consumed);
        scanned = 0;
        continue;
      }
      rest = rbuf.substr(r.consumed);
      OnHead(rest);  // reads the head's views into rbuf: cleared only after
      rbuf.clear();
      rbuf.shrink_to_fit();
      if (finished) return false;
      in = rest;
      break;
    }
  }
  if (in.empty()) return !finished;
  if (resp_done || resp_failed) return false;
  if (head.framing == BodyFraming::kLength) {
    size_t take = in.size() < body_left ? in.size() : static_cast<size_t>(body_left);
    body.append(in.data(), take);
    body_left -= take;
    if (take < in.size()) extra = true;
    if (body_left == 0) resp_done = true;
  } else if (head.framing == BodyFraming::kChunked) {
    size_t consumed = 0;
    int status = 0;
    const char* reason = "";
    ParseState st = chunked.Feed(in, &consumed, &body, UINT64_MAX, &status, &reason);
    if (st == ParseState::kError)
      resp_failed = true;
    else if (st == ParseState::kDone)
      resp_done = true;
    if (st == ParseState::kDone && consumed < in.size()) extra = true;
  } else {
    body.append(in);
  }
  if (resp_done || resp_failed) {
    Release(resp_done && head.keep_alive);
  } else {
    if (body.size() >= kBufferHigh) reading_paused = true;
    ArmIdleOrFirstByte();
  }
  if (waker) waker();
  return !finished;
}

void Forwarder::Exchange::OnHead(std::string& rest) {
  bool has_rest = !rest.empty();
  head_done = true;
  set->Succeeded(up());
  if (head.status == 101) {
    // The upstream switched protocols: from here on, bytes both ways as they
    // come, until either side ends. Never pooled.
    tunnel = true;
    head.framing = BodyFraming::kNone;
    head.until_close = true;
    head.keep_alive = false;
    body_done = true;
  }
  bool no_body = head_method || head.status == 204 || head.status == 304;
  std::vector<std::string_view> listed;
  for (const auto& h : head.headers)
    if (EqualsIgnoreCase(h.name, "connection")) ConnectionTokens(h.value, &listed);
  std::string fields;
  bool event_stream = false;
  for (const auto& h : head.headers) {
    if (tunnel && EqualsIgnoreCase(h.name, "upgrade")) {
      fields.append("Upgrade: ").append(h.value).append("\r\nConnection: Upgrade\r\n");
      continue;
    }
    if (DropResponseField(h.name) || Listed(listed, h.name)) continue;
    if (EqualsIgnoreCase(h.name, "content-type") && h.value.substr(0, 17) == "text/event-stream")
      event_stream = true;
    fields.append(h.name).append(": ").append(h.value).append("\r\n");
  }
  int status = head.status;
  bool sized = head.framing == BodyFraming::kLength;
  uint64_t length = head.content_length;
  if (no_body) {
    resp_done = true;
  } else if (sized) {
    body_left = length;
    if (length == 0) resp_done = true;
  }
  answered = true;
  constexpr uint64_t kWholeBodyMax = 64 * 1024;
  if (sized && !no_body && !tunnel && length > 0 && length <= kWholeBodyMax &&
      rest.size() >= length) {
    // The common case: a small answer whose body came with its head. It goes
    // out as one piece (no stream to pull), and the upstream connection is
    // free before the client has it.
    std::string body = rest.substr(0, static_cast<size_t>(length));
    extra = rest.size() > length;
    rest.clear();
    resp_done = true;
    reply->Finish(
        [status, fields = std::move(fields), body = std::move(body)](Response& res) mutable {
          res.status = status;
          res.fields = std::move(fields);
          res.body_kind = Response::BodyKind::kText;
          res.text = std::move(body);
        });
    Release(head.keep_alive);
    return;
  }
  auto hold = std::make_shared<ClientHold>();
  hold->ex = shared_from_this();
  if (tunnel) {
    auto sink = std::make_shared<Sink>(shared_from_this());
    reply->Finish([hold, sink, fields = std::move(fields)](Response& res) {
      res.status = 101;
      res.fields = fields;
      res.body_kind = Response::BodyKind::kStream;
      res.stream = [hold](std::string& piece) { return hold->ex->Pull(piece); };
      res.upgrade_sink = sink;
    });
    ArmIdleOrFirstByte();
    return;
  }
  reply->Finish([hold, status, fields = std::move(fields), no_body, sized, length, event_stream,
                 head_method = head_method](Response& res) {
    res.status = status;
    res.fields = fields;
    if (no_body && !head_method) return;  // 204, 304
    auto pull = [hold](std::string& piece) { return hold->ex->Pull(piece); };
    // HEAD: the framing GET would have is said, and no body is sent.
    if (sized) {
      res.SetStream(pull, length);  // HEAD: the length is said, no body is sent
    } else {
      res.body_kind = Response::BodyKind::kStream;
      res.stream = pull;
      res.stream_endless = event_stream;
    }
    res.stream_ok = [hold] { return !hold->ex->resp_failed; };
  });
  // No body whatever the framing says (204, 304, HEAD): the connection's fate
  // is what the version and Connection field say.
  if (resp_done)
    Release((no_body ? head.persistent : head.keep_alive) && !has_rest);
  else
    ArmIdleOrFirstByte();
}

// The client's connection takes the next piece; false once the body is
// whole (or broken: stream_ok says which).
bool Forwarder::Exchange::Pull(std::string& piece) {
  if (!body.empty()) piece.swap(body);
  if (reading_paused && !finished && conn) {
    reading_paused = false;
    auto self = shared_from_this();
    ArmIdleOrFirstByte();
    Read();  // what arrives now is for the next pull
  }
  return !(resp_done || resp_failed) || !body.empty();
}

void Forwarder::Exchange::AttemptFailed(const char* why, bool retry_ok, bool count_failure,
                                        int status) {
  auto self = shared_from_this();
  int64_t now = fw->loop_->NowMs();
  bool was_reused = conn && conn->reused;
  if (index >= 0) {
    if (count_failure) set->Failed(up(), now);
    up().active.fetch_sub(1, std::memory_order_relaxed);
  }
  if (conn) {
    fw->CloseConn(conn);
    conn = nullptr;
  }
  if (index >= 0 && count_failure) tried |= 1ull << index;
  index = -1;
  if (retry_ok && replayable && !answered && !client_gone && attempts < kMaxAttempts) {
    // A stale pooled connection says nothing of its upstream: dial it afresh.
    fresh_only = was_reused;
    sent_any = false;
    last_why = why;
    last_status = status;
    rbuf.clear();
    got_byte = false;
    write_failed = false;
    Start();
    return;
  }
  Respond(status, why);
}

void Forwarder::Exchange::Respond(int status, const char* why) {
  if (!answered) {
    answered = true;
    if (status == 504)
      Bump(fw->counters_.gateway_timeout);
    else
      Bump(fw->counters_.bad_gateway);
    std::string reason = why;
    int64_t now = fw->loop_->NowMs();
    if (now - fw->last_log_ms_ >=
        1000) {  // one line a second per worker: a dead upstream must not flood the log
      fw->last_log_ms_ = now;
      Log(LogLevel::kWarn, "proxy: no answer from upstream",
          {{"status", status}, {"reason", reason}, {"upstreams", set->config().upstreams.front()}});
    }
    reply->Finish([status, reason](Response& res) { res.SetError(status, reason); });
  } else {
    resp_failed = true;
    if (waker) waker();
  }
  Release(false);
}

// Ends the attempt's hold on its connection: back to the pool when the
// exchange on it is whole both ways, closed otherwise.
void Forwarder::Exchange::Release(bool keep) {
  if (conn) {
    if (index >= 0) up().active.fetch_sub(1, std::memory_order_relaxed);
    index = -1;
    Conn* c = conn;
    conn = nullptr;
    c->owner = nullptr;
    // Pooled only when the socket is known drained (a short read or EAGAIN
    // came last): leftover bytes would be the next request's "answer".
    if (keep && !extra && !write_failed && body_done && Pending() == 0 && !resp_failed &&
        !c->readable)
      fw->ToPool(c);
    else
      fw->CloseConn(c);
  }
  Done();
}

void Forwarder::Exchange::Done() {
  if (finished) return;
  finished = true;
  deadline = 0;
  auto self = shared_from_this();
  fw->active_.erase(this);
}

size_t Forwarder::Exchange::OnData(std::string_view bytes) {
  if (finished || write_failed) return bytes.size();  // nobody upstream takes it anymore
  if (Pending() >= kBufferHigh) {
    sink_paused = true;
    return 0;
  }
  if (chunk_upstream) {
    AppendHex(&out, bytes.size());
    out.append("\r\n").append(bytes).append("\r\n");
  } else {
    out.append(bytes);
  }
  if (conn && conn->connected) Pump();
  return bytes.size();
}

void Forwarder::Exchange::OnBodyEnd(bool ok) {
  auto self = shared_from_this();
  if (finished) return;
  if (!ok && answered && !tunnel) {
    // The answer started before the body ended (an early 413, a streaming
    // endpoint): the client's connection stops sending, the upstream's answer
    // is still read out. The connection is not reused (the body is short).
    // No half-close: some upstreams end the whole connection on one.
    write_failed = true;
    return;
  }
  if (!ok) {
    // The client's body broke off: the upstream must not take a part for the whole.
    if (conn) {
      fw->CloseConn(conn);
      conn = nullptr;
      if (index >= 0) up().active.fetch_sub(1, std::memory_order_relaxed);
      index = -1;
    }
    if (!answered) {
      answered = true;
      reply->Finish([](Response& res) { res.SetError(400, "request body incomplete"); });
    }
    resp_failed = true;
    Done();
    return;
  }
  if (tunnel) {
    half_close = true;
    if (conn && Pending() == 0) {
      shutdown(conn->fd, SHUT_WR);
      half_close = false;
    }
    return;
  }
  if (chunk_upstream) out.append("0\r\n\r\n");
  body_done = true;
  if (conn && conn->connected) Pump();
  if (!finished && conn && conn->connected) ArmIdleOrFirstByte();
}

void Forwarder::Exchange::ClientGone() {
  client_gone = true;
  if (finished) return;
  auto self = shared_from_this();
  if (conn) {
    fw->CloseConn(conn);  // mid-answer: the connection cannot be reused
    conn = nullptr;
    if (index >= 0) up().active.fetch_sub(1, std::memory_order_relaxed);
    index = -1;
  }
  Done();
}

Forwarder::Conn* Forwarder::TakeIdle(UpstreamSet* set, int index) {
  auto it = idle_.find(&set->at(static_cast<size_t>(index)));
  if (it == idle_.end() || it->second.empty()) return nullptr;
  Conn* c = it->second.back();
  it->second.pop_back();
  c->reused = true;
  return c;
}

void Forwarder::ToPool(Conn* c) {
  auto& list = idle_[c->upstream];
  if (list.size() >= kMaxIdlePerUpstream) {
    CloseConn(c);
    return;
  }
  c->owner = nullptr;
  c->idle_since = loop_->NowMs();
  list.push_back(c);
}

void Forwarder::CloseConn(Conn* c) {
  if (c->dead) return;
  if (!c->owner) {
    // Off the idle list, if it is on it.
    auto it = idle_.find(c->upstream);
    if (it != idle_.end()) {
      auto& v = it->second;
      for (size_t i = 0; i < v.size(); ++i)
        if (v[i] == c) {
          v.erase(v.begin() + static_cast<long>(i));
          break;
        }
    }
  }
  c->dead = true;
  c->owner = nullptr;
  close(c->fd);
  closed_.push_back(c);
}

void Forwarder::OnIdleIo(Conn* c, uint32_t events) {
  // An idle connection has nothing to say: bytes or an end mean it is done.
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) CloseConn(c);
}

int64_t Forwarder::Tick(int64_t now) {
  for (Conn* c : closed_) delete c;
  closed_.clear();
  if (active_.empty() && idle_.empty()) return 0;
  if (now < next_check_) return next_check_;
  next_check_ = now + kCheckEveryMs;
  std::vector<std::shared_ptr<Exchange>> expired;
  for (auto& [raw, ex] : active_)
    if (ex->deadline && ex->deadline <= now) expired.push_back(ex);
  for (auto& ex : expired) {
    if (ex->finished) continue;
    if (!ex->conn || !ex->conn->connected) {
      ex->AttemptFailed("upstream did not accept the connection in time", true, true, 504);
    } else if (!ex->head_done) {
      ex->AttemptFailed("upstream did not answer in time", false, true, 504);
    } else {
      ex->resp_failed = true;  // gone quiet mid-answer
      ex->Release(false);
      if (ex->waker) ex->waker();
    }
  }
  for (auto it = idle_.begin(); it != idle_.end();) {
    auto& v = it->second;
    size_t keep = 0;
    for (size_t i = 0; i < v.size(); ++i) {
      if (now - v[i]->idle_since >= kPoolIdleMs) {
        v[i]->dead = true;
        close(v[i]->fd);
        closed_.push_back(v[i]);
      } else {
        v[keep++] = v[i];
      }
    }
    v.resize(keep);
    if (v.empty())
      it = idle_.erase(it);
    else
      ++it;
  }
  return next_check_;
}

}  // namespace hearth::proxy
