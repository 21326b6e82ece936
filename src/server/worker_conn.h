#pragma once
// The worker's own records of a listener and of a connection (shared by
// worker.cpp, worker_accept.cpp and worker_conn.cpp; nothing else sees them).
#include <memory>
#include <string>

#include "io/session.h"
#include "io/transport.h"
#include "server/worker.h"

namespace hearth {

struct Worker::Listener : IoWatcher {
  Listener(Worker* w, int f, const tls::TlsServer* t, SessionFactory s)
      : worker(w), fd(f), tls(t), sessions(std::move(s)) {}
  void OnIo(uint32_t) override {
    if (fd >= 0) worker->OnAccept(this, false);
  }
  Worker* worker;
  int fd;                     // -1 once closed (graceful stop)
  const tls::TlsServer* tls;  // null: plain
  SessionFactory sessions;
};

struct Worker::Conn : IoWatcher, TimerNode {
  Conn(Worker* w, uint64_t i, std::string ip) : worker(w), id(i), peer_ip(std::move(ip)) {}
  void OnIo(uint32_t events) override { worker->OnConnIo(this, events); }
  static Conn* Of(TimerNode* n) { return static_cast<Conn*>(n); }
  Worker* worker;
  uint64_t id;
  std::string peer_ip;
  std::unique_ptr<Transport> transport;  // owns the socket
  std::unique_ptr<Session> session;
  bool handshaking = false;
  bool tls_paused = false;  // in paused_: the handshake waits for an on-demand certificate
  bool readable = false;    // edge seen, EAGAIN not yet
  bool fresh = true;        // no byte read yet
  bool lingering = false;
  bool corked = false;  // TCP_CORK set for the turn that ends the TLS handshake
  bool peer_eof = false;
  bool guard_counted = false;  // counted in the guard's per-address table
  bool closed = false;         // in closed_: freed at the end of the turn
  int64_t body_start_ms = 0;   // a request body's bytes are being timed since (0: not)
  uint64_t body_bytes = 0;
  uint64_t lingered = 0;
  Conn* aprev = nullptr;
  Conn* anext = nullptr;
};

}  // namespace hearth
