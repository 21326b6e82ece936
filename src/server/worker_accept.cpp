// The worker's accept path, the same for every listener: max-connections
// (backpressure, or the oldest idle connection makes room), the guard's
// admission and per-address caps, the transport (plain or TLS), the
// listener's session, the header timer, and graceful stop for late arrivals.
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/log.h"
#include "io/socket.h"
#include "server/worker_conn.h"
#include "tls/transport.h"

namespace hearth {

void Worker::AddListener(int fd, const tls::TlsServer* tls, SessionFactory sessions) {
  listeners_.push_back(std::make_unique<Listener>(this, fd, tls, std::move(sessions)));
  if (!accept_paused_) WatchInput(fd, listeners_.back().get());
}

void Worker::PauseAccept() {
  if (accept_paused_) return;
  for (auto& l : listeners_)
    if (l->fd >= 0) Unwatch(l->fd);
  accept_paused_ = true;
}

void Worker::ResumeAccept() {
  if (!accept_paused_) return;
  for (auto& l : listeners_)
    if (l->fd >= 0) WatchInput(l->fd, l.get());
  accept_paused_ = false;
}

void Worker::OnAccept(Listener* l, bool ignore_limit) {
  for (int i = 0; i < 256; ++i) {
    bool full = !ignore_limit &&
                shared_->open_connections.load(std::memory_order_relaxed) >= max_connections_;
    if (full && !timers_.Head(kTimerIdle)) {
      PauseAccept();  // backpressure: the kernel's queue holds them until we have room
      return;
    }
    sockaddr_storage addr;
    socklen_t len = sizeof addr;
    int fd = accept4(l->fd, reinterpret_cast<sockaddr*>(&addr), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0 && full) {
      // Out of room, and someone is at the door: the oldest idle keep-alive
      // connection goes, so a crowd of idle clients cannot lock new ones out.
      Conn* idle = Conn::Of(timers_.Head(kTimerIdle));
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
    std::unique_ptr<Transport> transport;
    if (l->tls)
      transport = tls::TlsTransport::Accept(*l->tls, fd);
    else
      transport = std::make_unique<Transport>(fd);
    std::unique_ptr<Session> session;
    uint64_t id = next_conn_id_;
    if (transport) session = l->sessions(SessionInfo{id, ip, transport->Secure()});
    if (!session) {
      if (counted) shared_->guard->Release(ip);
      if (!transport) close(fd);
      continue;  // the transport, if made, closes the socket
    }
    ++next_conn_id_;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    shared_->open_connections.fetch_add(1, std::memory_order_relaxed);
    metrics_.connections_accepted.Add();
    metrics_.connections_open.Add();
    Conn* c = new Conn(this, id, std::move(ip));
    c->guard_counted = counted;
    c->handshaking = transport->Secure();
    c->transport = std::move(transport);
    c->session = std::move(session);
    conns_by_id_[c->id] = c;
    c->anext = all_head_;
    if (all_head_) all_head_->aprev = c;
    all_head_ = c;
    ++conn_count_;
    Watch(fd, c);
    SetTimer(c, kTimerHeader, now_ms_ + header_timeout_ms_);
    if (!c->handshaking) c->session->OnOpen({});
    if (stopping_) c->session->Stop(false);
    // A client's hello usually arrives with (or right after) its connect:
    // the first handshake step now spares the loop a turn before answering.
    if (c->handshaking) Drive(c);
  }
}

}  // namespace hearth
