#include "server/worker.h"
#include "http/h2_connection.h"

#include <openssl/err.h>

#include <errno.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>

#include "base/clock.h"
#include "base/log.h"
#include "io/socket.h"

namespace hearth {
namespace {
char kListenTag, kTlsListenTag, kWakeTag;
constexpr int64_t kLingerMs = 2000;
constexpr uint64_t kLingerMaxBytes = 1 << 20;
}  // namespace

void Mailbox::Post(uint64_t connection_id, std::function<void(Response&)> fill) {
  if (std::this_thread::get_id() == owner_.load(std::memory_order_relaxed)) {
    // The owner's loop looks at local_ after every turn. Close() runs after
    // the loop ended (the owner is cleared by then), so no post races it.
    if (!closed_.load(std::memory_order_relaxed)) local_.emplace_back(connection_id, std::move(fill));
    return;
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (closed_.load(std::memory_order_relaxed)) return;
  // Only the first post since the worker last took them needs to wake it:
  // it takes everything posted when it wakes (one syscall per batch).
  bool wake = posted_.empty();
  posted_.emplace_back(connection_id, std::move(fill));
  if (!wake) return;
  uint64_t one = 1;
  ssize_t n = write(wake_fd_, &one, sizeof one);
  (void)n;
}

void Mailbox::Close() {
  std::lock_guard<std::mutex> lock(mu_);
  closed_.store(true);
  posted_.clear();
  local_.clear();
}

std::vector<std::pair<uint64_t, std::function<void(Response&)>>> Mailbox::Take() {
  std::vector<std::pair<uint64_t, std::function<void(Response&)>>> out;
  {
    std::lock_guard<std::mutex> lock(mu_);
    out = std::move(posted_);
    posted_.clear();
  }
  for (auto& p : local_) out.push_back(std::move(p));
  local_.clear();
  return out;
}

namespace {
class WorkerReply : public Reply {
 public:
  WorkerReply(std::shared_ptr<Mailbox> mailbox, uint64_t id) : mailbox_(std::move(mailbox)), id_(id) {}
  ~WorkerReply() override {
    if (!finished_.exchange(true))
      mailbox_->Post(id_, [](Response& res) { res.SetError(500, "the handler did not answer"); });
  }
  void Finish(std::function<void(Response&)> fill) override {
    if (finished_.exchange(true)) return;
    mailbox_->Post(id_, std::move(fill));
  }
  void Wake() override {
    if (!finished_.load()) mailbox_->Post(id_, nullptr);
  }

 private:
  std::shared_ptr<Mailbox> mailbox_;
  uint64_t id_;
  std::atomic<bool> finished_{false};
};
}  // namespace

struct Worker::Conn : IoWatcher {
  Conn(Worker* w, const H1Context* ctx, int f, std::string ip, uint64_t id)
      : worker(w), fd(f), id(id), peer_ip(ip), http(std::make_unique<H1Connection>(ctx, std::move(ip), id)) {}
  void OnIo(uint32_t events) override { worker->OnConnIo(this, events); }
  Worker* worker;
  int fd;
  uint64_t id;
  std::string peer_ip;
  std::unique_ptr<HttpConnection> http;  // HTTP/1.1 until ALPN or the h2c preface says HTTP/2
  SSL* ssl = nullptr;       // HTTPS: the TLS session (bytes on `fd` are records)
  bool handshaking = false;
  bool tls_paused = false;  // in paused_: the handshake waits for an on-demand certificate
  bool readable = false;    // edge seen, EAGAIN not yet
  bool fresh = true;        // no byte read yet
  bool lingering = false;
  bool peer_eof = false;
  bool guard_counted = false;  // counted in the guard's per-address table
  int64_t body_start_ms = 0;   // a request body's bytes are being timed since (0: not)
  uint64_t body_bytes = 0;
  int timer = -1;
  int64_t deadline = 0;
  uint64_t lingered = 0;
  Conn* tprev = nullptr;
  Conn* tnext = nullptr;
  Conn* aprev = nullptr;
  Conn* anext = nullptr;
};

Worker::Worker(int index, WorkerShared* shared, int listen_fd, Handler handler,
               std::function<BodyRoute(const Request&)> body_route)
    : index_(index), shared_(shared), listen_fd_(listen_fd), handler_(std::move(handler)) {
  ctx_.handler = &handler_;
  ctx_.body_route = std::move(body_route);
  ctx_.date_line = &date_line_;
  ctx_.on_abuse = [this](const char* what) {
    metrics_.http2_abuse.Add();
    Log(LogLevel::kWarn, "HTTP/2 connection closed for abuse", {{"what", what}, {"worker", index_}});
  };
  ctx_.on_request = [this](const Request& req, int status, uint64_t bytes, int64_t micros, bool refused) {
    if (refused) metrics_.protocol_errors.Add();
    OnRequestDone(req, status, bytes, micros);
  };
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  mailbox_ = std::make_shared<Mailbox>(wake_fd_);
  ctx_.make_waker = [mailbox = mailbox_](uint64_t id) -> std::function<void()> {
    return [mailbox, id] { mailbox->Post(id, nullptr); };
  };
  ctx_.make_reply = [mailbox = mailbox_](uint64_t id) -> std::shared_ptr<Reply> {
    return std::make_shared<WorkerReply>(mailbox, id);
  };
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = &kWakeTag;
  epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev);
  ev.data.ptr = &kListenTag;
  epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, listen_fd_, &ev);
  ApplySettings();
  RefreshDate();
}

void Worker::SetHandler(Handler handler, std::function<BodyRoute(const Request&)> body_route) {
  handler_ = std::move(handler);
  ctx_.body_route = std::move(body_route);
}

bool Worker::Watch(int fd, IoWatcher* watcher) {
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  ev.data.ptr = watcher;
  return epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) == 0;
}

void Worker::OnConnIo(Conn* c, uint32_t events) {
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

void Worker::AddTlsListener(int listen_fd, const tls::TlsServer* tls) {
  tls_listen_fd_ = listen_fd;
  tls_ = tls;
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = &kTlsListenTag;
  epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, tls_listen_fd_, &ev);
}

Worker::~Worker() {
  Join();
  mailbox_->Close();  // replies finished from now on are dropped
  while (all_head_) Close(all_head_);
  if (listen_fd_ >= 0) close(listen_fd_);
  if (tls_listen_fd_ >= 0) close(tls_listen_fd_);
  if (wake_fd_ >= 0) close(wake_fd_);
  if (epoll_fd_ >= 0) close(epoll_fd_);
}

void Worker::Start() {
  thread_ = std::thread([this] {
    mailbox_->SetOwner(std::this_thread::get_id());
    Run();
    mailbox_->SetOwner({});  // a later thread may get the same id
    finished_.store(true);
  });
}

void Worker::Join() {
  if (thread_.joinable()) thread_.join();
}

void Worker::Wake() {
  uint64_t one = 1;
  ssize_t n = write(wake_fd_, &one, sizeof one);
  (void)n;
}

void Worker::ApplySettings() {
  std::lock_guard<std::mutex> lock(shared_->settings_mu);
  const Settings& s = shared_->settings;
  ctx_.limits.max_header_bytes = s.max_header_size;
  ctx_.limits.max_target_bytes = s.max_target_size;
  ctx_.limits.max_body_bytes = s.max_body_size;
  header_timeout_ms_ = s.header_timeout_ms;
  body_timeout_ms_ = s.body_timeout_ms;
  idle_timeout_ms_ = s.keepalive_timeout_ms;
  write_timeout_ms_ = s.write_timeout_ms;
  shutdown_timeout_ms_ = s.shutdown_timeout_ms;
  max_connections_ = s.max_connections;
  seen_generation_ = shared_->settings_generation.load();
}

void Worker::RefreshDate() {
  int64_t sec = WallNowSeconds();
  if (sec == date_second_) return;
  date_second_ = sec;
  date_line_ = "Date: " + FormatHttpDate(sec) + "\r\n";
}

void Worker::OnRequestDone(const Request& req, int status, uint64_t bytes, int64_t micros) {
  metrics_.RecordRequest(status, micros);
  if (shared_->access_log.enabled()) AppendAccessLine(&access_batch_, req, status, bytes, micros);
  if (LogEnabled(LogLevel::kDebug))
    Log(LogLevel::kDebug, "request",
        {{"method", std::string(req.method_text)}, {"path", std::string(req.path)}, {"status", status},
         {"worker", index_}});
}

void Worker::PauseAccept() {
  if (accept_paused_ || listen_fd_ < 0) return;
  epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, listen_fd_, nullptr);
  if (tls_listen_fd_ >= 0) epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, tls_listen_fd_, nullptr);
  accept_paused_ = true;
}

void Worker::ResumeAccept() {
  if (!accept_paused_ || listen_fd_ < 0) return;
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = &kListenTag;
  epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, listen_fd_, &ev);
  if (tls_listen_fd_ >= 0) {
    ev.data.ptr = &kTlsListenTag;
    epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, tls_listen_fd_, &ev);
  }
  accept_paused_ = false;
}

void Worker::OnAccept(int listen_fd, bool tls, bool ignore_limit) {
  for (int i = 0; i < 256; ++i) {
    bool full = !ignore_limit && shared_->open_connections.load(std::memory_order_relaxed) >= max_connections_;
    if (full && !timers_[kTimerIdle].head) {
      PauseAccept();  // backpressure: the kernel's queue holds them until we have room
      return;
    }
    sockaddr_storage addr;
    socklen_t len = sizeof addr;
    int fd = accept4(listen_fd, reinterpret_cast<sockaddr*>(&addr), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0 && full) {
      // Out of room, and someone is at the door: the oldest idle keep-alive
      // connection goes, so a crowd of idle clients cannot lock new ones out.
      Conn* idle = timers_[kTimerIdle].head;
      if (shared_->guard) shared_->guard->Count(guard::Reason::kIdleClosed, idle->peer_ip);
      Close(idle);
    }
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EMFILE || errno == ENFILE) {
        Log(LogLevel::kWarn, "out of file descriptors; pausing accept", {{"worker", index_}});
        PauseAccept();
      }
      return;
    }
    std::string ip = PeerIp(addr);
    bool counted = false;
    if (shared_->guard && !shared_->guard->Admit(ip, &counted)) {
      close(fd);  // refused at the door: deny list, allow list, or too many from this address
      continue;
    }
    SSL* ssl = nullptr;
    if (tls) {
      ssl = tls_->NewSession(fd);
      if (!ssl) {
        if (counted) shared_->guard->Release(ip);
        close(fd);
        continue;
      }
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    shared_->open_connections.fetch_add(1, std::memory_order_relaxed);
    metrics_.connections_accepted.Add();
    metrics_.connections_open.Add();
    Conn* c = new Conn(this, &ctx_, fd, std::move(ip), next_conn_id_++);
    c->guard_counted = counted;
    if (ssl) {
      c->ssl = ssl;
      c->handshaking = true;
      c->http->SetTls(true);
    }
    conns_by_id_[c->id] = c;
    c->anext = all_head_;
    if (all_head_) all_head_->aprev = c;
    all_head_ = c;
    ++conn_count_;
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.ptr = static_cast<IoWatcher*>(c);
    epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev);
    SetTimer(c, kTimerHeader, now_ms_ + header_timeout_ms_);
    if (stopping_) c->http->BeginShutdown(false);
  }
}

void Worker::Unlink(Conn* c) {
  if (c->timer < 0) return;
  TimerList& l = timers_[c->timer];
  if (c->tprev) c->tprev->tnext = c->tnext;
  else l.head = c->tnext;
  if (c->tnext) c->tnext->tprev = c->tprev;
  else l.tail = c->tprev;
  c->tprev = c->tnext = nullptr;
  c->timer = -1;
}

void Worker::SetTimer(Conn* c, int kind, int64_t deadline) {
  Unlink(c);
  TimerList& l = timers_[kind];
  c->timer = kind;
  c->deadline = deadline;
  c->tprev = l.tail;
  if (l.tail) l.tail->tnext = c;
  else l.head = c;
  l.tail = c;
}

void Worker::Rearm(Conn* c) {
  if (!c->http->InBody() || c->http->BodyPaused()) c->body_start_ms = 0;  // see BodyTooSlow
  int kind;
  int64_t duration;
  if (!c->http->out().empty()) {
    kind = kTimerWrite;
    duration = write_timeout_ms_;
  } else if (c->http->Waiting() || c->http->BodyPaused()) {
    // The handler's pace, not the client's: its own deadlines apply.
    kind = kTimerWait;
    duration = kWaitMs;
  } else if (c->http->Streaming()) {
    kind = kTimerStream;
    duration = kStreamIdleMs;
  } else if (c->http->InBody()) {
    kind = kTimerBody;
    duration = body_timeout_ms_;
  } else if (c->http->HasPartialHead() || c->fresh) {
    kind = kTimerHeader;
    duration = header_timeout_ms_;
  } else {
    kind = kTimerIdle;
    duration = idle_timeout_ms_;
  }
  // The header deadline is fixed from the first byte; the others move with progress.
  if (kind == c->timer && kind == kTimerHeader) return;
  SetTimer(c, kind, now_ms_ + duration);
}

void Worker::Close(Conn* c) {
  Unlink(c);
  conns_by_id_.erase(c->id);
  if (c->aprev) c->aprev->anext = c->anext;
  else all_head_ = c->anext;
  if (c->anext) c->anext->aprev = c->aprev;
  if (c->ssl) SSL_free(c->ssl);  // its close_notify, if any, went out in BeginLinger
  if (c->guard_counted) shared_->guard->Release(c->peer_ip);
  close(c->fd);  // also removes it from the epoll set
  --conn_count_;
  shared_->open_connections.fetch_sub(1, std::memory_order_relaxed);
  metrics_.connections_open.Sub();
  delete c;
}

// After our last response: stop sending, read and drop what the client still
// sends (so the kernel does not answer it with a reset that could destroy the
// response in flight), then close on EOF or after kLingerMs.
void Worker::BeginLinger(Conn* c) {
  if (c->peer_eof) {
    Close(c);
    return;
  }
  if (c->ssl && !c->handshaking) {
    ERR_clear_error();
    SSL_shutdown(c->ssl);  // close_notify: the peer knows the response is whole
    ERR_clear_error();
  }
  shutdown(c->fd, SHUT_WR);
  c->lingering = true;
  SetTimer(c, kTimerLinger, now_ms_ + kLingerMs);
  Drive(c);
}

void Worker::Drive(Conn* c) {
  if (c->lingering) {
    char buf[4096];
    while (true) {
      ssize_t n = read(c->fd, buf, sizeof buf);
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
  if (c->handshaking) {
    tls::IoStatus hs = tls::Handshake(c->ssl);
    if (hs == tls::IoStatus::kWant) return;  // the header timer bounds a stalled handshake
    if (hs == tls::IoStatus::kPaused) {
      // Waiting for a certificate being made: the TLS side bounds the wait;
      // this timer is a backstop past it.
      if (c->timer != kTimerTlsPaused) SetTimer(c, kTimerTlsPaused, now_ms_ + tls_->on_demand_wait_ms() + 5000);
      if (paused_.empty()) paused_poll_at_ = now_ms_ + kPausedPollMs;
      if (!c->tls_paused) {
        c->tls_paused = true;
        paused_.push_back(c->id);
      }
      return;
    }
    if (hs != tls::IoStatus::kDone) {
      metrics_.tls_handshake_failures.Add();
      Close(c);
      return;
    }
    c->handshaking = false;
    metrics_.tls_handshakes.Add();
    if (SSL_session_reused(c->ssl)) metrics_.tls_resumptions.Add();
    const unsigned char* alpn = nullptr;
    unsigned alpn_len = 0;
    SSL_get0_alpn_selected(c->ssl, &alpn, &alpn_len);
    if (alpn_len == 10 && memcmp(alpn, "acme-tls/1", 10) == 0) {
      Close(c);  // a TLS-ALPN-01 validation: the handshake was all of it (RFC 8737)
      return;
    }
    if (alpn_len == 2 && memcmp(alpn, "h2", 2) == 0) {
      c->http = std::make_unique<H2Connection>(&ctx_, c->peer_ip, c->id);
      c->http->SetTls(true);
      if (stopping_) c->http->BeginShutdown(false);  // it missed BeginStop as HTTP/1
      c->http->Advance();  // our SETTINGS go first
    }
    // The request may have come with the handshake's last flight: read
    // without waiting for another edge.
    c->readable = true;
  }
  HttpConnection* h = c->http.get();
  bool progress_any = false;
  bool exhausted = true;
  // Bounded, so one busy connection cannot starve the others; if it still has
  // work when the bound is hit, it goes on the `again_` list.
  for (int iter = 0; iter < 64; ++iter) {
    bool progress = false;
    if (!h->out().empty()) {
      uint64_t written = 0;
      auto r = c->ssl ? tls::Flush(c->ssl, h->out(), &written) : h->out().Flush(c->fd, &written);
      if (written) {
        metrics_.bytes_out.Add(written);
        progress = true;
      }
      if (r == OutQueue::FlushResult::kError) {
        Close(c);
        return;
      }
      // Room again: requests already buffered behind a large response go on.
      if (written && h->HasBufferedInput() && !h->Backpressured()) h->Advance();
    }
    if (h->out().empty() && (h->Streaming() || h->WantsWrite())) {
      h->Advance();
      if (!h->out().empty()) progress = true;
    }
    if (c->readable && !h->ShouldClose() && !h->Backpressured() && !h->Waiting() && !h->BodyPaused()) {
      size_t space = 0;
      char* buf = h->ReadBuffer(&space);
      if (space == 0) {
        Close(c);
        return;
      }
      ssize_t n;
      if (c->ssl) {
        // Records, not bytes: a short read does not mean the socket is
        // drained, so only kWant clears `readable`.
        size_t got = 0;
        bool drained = false;
        tls::IoStatus rs = tls::Read(c->ssl, buf, space, &got, &drained);
        if (rs == tls::IoStatus::kDone) {
          n = static_cast<ssize_t>(got);
          if (drained) c->readable = false;  // no EAGAIN read needed to know
        } else if (rs == tls::IoStatus::kWant) {
          n = -1;
          errno = EAGAIN;
        } else if (rs == tls::IoStatus::kWantWrite) {
          // No progress and no end: `readable` stays set, so the next
          // (writable) edge reads again.
          n = -1;
          errno = EINTR;
        } else if (rs == tls::IoStatus::kClosed) {
          n = 0;
        } else {
          Close(c);
          return;
        }
      } else {
        n = read(c->fd, buf, space);
      }
      if (n > 0 && c->fresh && !c->ssl && static_cast<size_t>(n) >= kH2PrefaceLength &&
          memcmp(buf, kH2Preface, kH2PrefaceLength) == 0) {
        // HTTP/2 with prior knowledge (h2c): the connection's first bytes are
        // the preface. They move to the HTTP/2 side, which reads them anew.
        auto h2 = std::make_unique<H2Connection>(&ctx_, c->peer_ip, c->id);
        size_t room = 0;
        char* into = h2->ReadBuffer(&room);
        size_t take = static_cast<size_t>(n) < room ? static_cast<size_t>(n) : room;
        memcpy(into, buf, take);
        c->http = std::move(h2);
        h = c->http.get();
        c->fresh = false;
        metrics_.bytes_in.Add(static_cast<uint64_t>(n));
        h->OnRead(take);
        if (stopping_) h->BeginShutdown(false);
        if (take < static_cast<size_t>(n)) {
          // Only when the first read was larger than HTTP/2's buffer (16 KiB).
          size_t rest = static_cast<size_t>(n) - take;
          std::string more(buf + take, rest);
          into = h->ReadBuffer(&room);
          memcpy(into, more.data(), rest < room ? rest : room);
          h->OnRead(rest < room ? rest : room);
        }
        h->Advance();
        progress_any = true;
        continue;
      }
      if (n > 0) {
        c->fresh = false;
        metrics_.bytes_in.Add(static_cast<uint64_t>(n));
        if (h->InBody() && shared_->guard && !h->BodyRateExempt() && BodyTooSlow(c, static_cast<uint64_t>(n))) {
          h->FailWith(408, "request body too slow");
          progress = true;
          continue;
        }
        h->OnRead(static_cast<size_t>(n));
        if (!c->ssl && static_cast<size_t>(n) < space) c->readable = false;
        h->Advance();
        progress = true;
      } else if (n == 0) {
        c->readable = false;
        c->peer_eof = true;
        h->OnPeerEof();
        h->Advance();
        progress = true;
      } else if (errno == EAGAIN) {
        c->readable = false;
      } else if (errno != EINTR) {
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
  if (h->ShouldClose() && h->out().empty()) {
    BeginLinger(c);
    return;
  }
  if (progress_any || c->timer < 0) Rearm(c);
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

void Worker::DeliverReplies() {
  for (auto& [id, fill] : mailbox_->Take()) {
    auto it = conns_by_id_.find(id);
    if (it == conns_by_id_.end()) continue;  // closed meanwhile
    Conn* c = it->second;
    if (fill) c->http->Resume(fill);
    else c->http->Unpause();  // a Wake(): the body sink is ready for more
    c->http->Advance();  // requests pipelined behind it
    Drive(c);
  }
}

void Worker::Sweep() {
  for (int kind = 0; kind < kTimerCount; ++kind) {
    TimerList& l = timers_[kind];
    while (l.head && l.head->deadline <= now_ms_) {
      Conn* c = l.head;
      switch (kind) {
        case kTimerHeader:
          metrics_.timeouts[static_cast<int>(TimeoutKind::kHeader)].Add();
          if (c->http->HasPartialHead()) {
            c->http->FailWith(408, "request head not received in time");
            Drive(c);
          } else {
            Close(c);
          }
          break;
        case kTimerBody:
          metrics_.timeouts[static_cast<int>(TimeoutKind::kBody)].Add();
          c->http->FailWith(408, "request body not received in time");
          Drive(c);
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
      if (l.head == c && c->deadline <= now_ms_) Close(c);
    }
  }
}

void Worker::BeginStop() {
  stopping_ = true;
  stop_deadline_ = now_ms_ + shutdown_timeout_ms_;
  if (listen_fd_ >= 0) {
    // Take what already waits in our accept queue: closing the listener would
    // reset those connections.
    if (accept_paused_) ResumeAccept();
    OnAccept(listen_fd_, false, true);
    epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, listen_fd_, nullptr);
    close(listen_fd_);
    listen_fd_ = -1;
    if (tls_listen_fd_ >= 0) {
      OnAccept(tls_listen_fd_, true, true);
      epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, tls_listen_fd_, nullptr);
      close(tls_listen_fd_);
      tls_listen_fd_ = -1;
    }
  }
  for (Conn* c = all_head_; c;) {
    Conn* next = c->anext;
    c->http->BeginShutdown(!c->fresh);
    if (c->http->ShouldClose()) {
      if (c->http->out().empty()) BeginLinger(c);
      else Drive(c);  // an ended event stream's last chunk, then linger
    } else if (!c->http->out().empty()) {
      Drive(c);  // HTTP/2: GOAWAY, and streams that ended
    }
    c = next;
  }
}

void Worker::Run() {
  epoll_event events[256];
  while (true) {
    int timeout = 1000;
    if (accept_paused_ || stopping_) timeout = 50;
    if (!again_.empty() || mailbox_->HasLocal()) timeout = 0;
    if (!paused_.empty() && paused_poll_at_ - now_ms_ < timeout) timeout = static_cast<int>(std::max<int64_t>(0, paused_poll_at_ - now_ms_));
    now_ms_ = MonoNowMillis();
    if (next_tick_ > 0) {
      int64_t wait = next_tick_ - now_ms_;
      if (wait < 0) wait = 0;
      if (wait < timeout) timeout = static_cast<int>(wait);
    }
    for (auto& l : timers_) {
      if (l.head) {
        int64_t wait = l.head->deadline - now_ms_;
        if (wait < 0) wait = 0;
        if (wait < timeout) timeout = static_cast<int>(wait);
      }
    }
    int n = epoll_wait(epoll_fd_, events, 256, timeout);
    now_ms_ = MonoNowMillis();
    RefreshDate();
    bool woken = false;
    for (int i = 0; i < n; ++i) {
      void* tag = events[i].data.ptr;
      if (tag == &kListenTag) {
        if (listen_fd_ >= 0) OnAccept(listen_fd_, false, false);
      } else if (tag == &kTlsListenTag) {
        if (tls_listen_fd_ >= 0) OnAccept(tls_listen_fd_, true, false);
      } else if (tag == &kWakeTag) {
        woken = true;  // handled after the batch: BeginStop closes connections
                       // whose events may still be further down this batch
      } else {
        static_cast<IoWatcher*>(tag)->OnIo(events[i].events);
      }
    }
    if (!paused_.empty() && now_ms_ >= paused_poll_at_) {
      std::vector<uint64_t> ids;
      ids.swap(paused_);
      for (uint64_t id : ids) {
        auto it = conns_by_id_.find(id);
        if (it == conns_by_id_.end()) continue;
        it->second->tls_paused = false;
        if (it->second->handshaking) Drive(it->second);
      }
      paused_poll_at_ = now_ms_ + kPausedPollMs;
    }
    if (!again_.empty()) {
      std::vector<uint64_t> ids;
      ids.swap(again_);
      for (uint64_t id : ids) {
        auto it = conns_by_id_.find(id);
        if (it != conns_by_id_.end()) Drive(it->second);
      }
    }
    if (woken || mailbox_->HasLocal()) {
      if (woken) {
        uint64_t v;
        ssize_t r = read(wake_fd_, &v, sizeof v);
        (void)r;
      }
      DeliverReplies();
      if (shared_->settings_generation.load() != seen_generation_) ApplySettings();
      if (shared_->stop.load() && !stopping_) BeginStop();
    }
    Sweep();
    if (!tickers_.empty()) {
      now_ms_ = MonoNowMillis();
      next_tick_ = 0;
      for (auto& tick : tickers_) {
        int64_t at = tick(now_ms_);
        if (at > 0 && (next_tick_ == 0 || at < next_tick_)) next_tick_ = at;
      }
    }
    // Room again, or an idle connection that can make room (OnAccept closes it).
    if (accept_paused_ && !stopping_ &&
        (shared_->open_connections.load(std::memory_order_relaxed) < max_connections_ || timers_[kTimerIdle].head))
      ResumeAccept();
    if (!access_batch_.empty()) {
      shared_->access_log.Write(access_batch_);
      access_batch_.clear();
    }
    if (stopping_) {
      if (conn_count_ == 0) break;
      if (now_ms_ >= stop_deadline_) {
        Log(LogLevel::kWarn, "shutdown timeout: closing connections still busy",
            {{"worker", index_}, {"connections", conn_count_}});
        while (all_head_) Close(all_head_);
        break;
      }
    }
  }
}

}  // namespace hearth
