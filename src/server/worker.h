#pragma once
// Worker: one thread, one event loop (io/epoll_loop.h), its own SO_REUSEPORT
// listeners, its own connections, handlers and caches. Nothing on the request
// path takes a lock or touches another worker's memory.
//
// A worker knows no protocol. It serves any number of listeners
// (AddListener), each with its own SessionFactory (server/http_listener.h
// makes one). All share one accept path: guard admission and per-address
// caps, max-connections with idle eviction, TLS with SNI, timeouts, metrics
// and graceful stop. What a protocol keeps per worker (its handler, limits,
// log batch) is a WorkerPart the worker owns and calls at each turn.
//
// Other threads never hold a Worker*: they post through its inbox() (a
// handle that outlives it; posts after it has gone are dropped). Only its
// owner (the workers' service) starts, wakes, joins and frees it.
//
// Timeouts: every connection is on exactly one of these lists, by what it is
// waiting for; each list is in deadline order because every entry on it got
// the same duration, so a sweep only looks at list heads (io/timer_list.h).
//   header    first byte of a request head -> whole head (fixed, not extended
//             by trickling bytes: a slowloris client gets no more time); also
//             a new connection's first bytes, and its TLS handshake
//   body      each read of a request body (extended by progress)
//   idle      keep-alive wait for the next request
//   write     response bytes waiting on a slow reader (extended by progress)
//   linger    after our last response: drain the peer's bytes, then close
//   stream    a streamed response waiting for its producer (an event stream between events)
//   wait      a deferred handler's answer (or a paused body sink), bounded by the handler
// write, idle, linger and the stop deadline are the worker's own; the session
// picks among the others by what it says it waits for (io/session.h).
#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "guard/guard.h"
#include "io/epoll_loop.h"
#include "io/session.h"
#include "io/timer_list.h"
#include "server/access_log.h"
#include "server/metrics.h"
#include "server/settings.h"
#include "tls/server.h"

namespace hearth {

// State shared by the server and all workers.
struct WorkerShared {
  std::atomic<int64_t> open_connections{0};
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> settings_generation{0};
  std::mutex settings_mu;
  Settings settings;  // guarded by settings_mu; workers copy what they need on change
  AccessLog access_log;
  guard::Guard* guard = nullptr;  // connection admission, body rates (null: none)
};

// A protocol's state on one worker, owned by it (Worker::Adopt) and freed
// after its connections; every call is on the worker's loop.
class WorkerPart {
 public:
  virtual ~WorkerPart() = default;
  // The settings as started, and again after each reload (under their lock).
  virtual void OnSettings(const Settings& /*s*/) {}
  // Each turn, before its events / after them.
  virtual void OnTurnStart() {}
  virtual void OnTurnEnd() {}
};

class Worker : public EpollLoop {
 public:
  Worker(int index, WorkerShared* shared);
  // Serves the listening socket `fd` (the worker owns it from now on): each
  // connection gets a session from `sessions`, over TLS with the
  // certificates `tls` holds if not null. Before Start.
  void AddListener(int fd, const tls::TlsServer* tls, SessionFactory sessions);
  // Keeps `part` for the worker's life (its sessions may point into it). Before Start.
  template <class T>
  T* Adopt(std::unique_ptr<T> part) {
    T* raw = part.get();
    AdoptPart(std::move(part));
    return raw;
  }
  ~Worker() override;
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // The owner's calls.
  void Start();
  void Join();
  // Wakes the loop to look at `shared` (stop, new settings).
  void Wake();

  int index() const { return index_; }
  WorkerShared* shared() const { return shared_; }
  const WorkerMetrics& metrics() const { return metrics_; }
  // For the worker's parts, on its loop.
  WorkerMetrics& metrics() { return metrics_; }
  // True once the loop has ended (after a stop, when its connections are done).
  bool finished() const { return finished_.load(); }

  bool ConnectionOpen(uint64_t id) const override { return conns_by_id_.count(id) != 0; }
  // On the loop: `fn` gets the session of connection `id` (a late answer for
  // it, say), then the worker moves its bytes. False: it has closed.
  bool Resume(uint64_t id, const std::function<void(Session&)>& fn) override;

 protected:
  int64_t WaitLimitMs(int64_t now_ms) override;
  void OnTurnStart() override {
    for (auto& part : parts_) part->OnTurnStart();
  }
  void OnEvents() override;
  void OnPosted() override { Sweep(); }
  void OnTurnEnd() override;

 private:
  struct Conn;
  struct Listener;
  enum TimerKind {
    kTimerHeader,
    kTimerBody,
    kTimerIdle,
    kTimerWrite,
    kTimerLinger,
    kTimerStream,
    kTimerWait,
    kTimerTlsPaused,
    kTimerCount
  };
  // A handshake paused for an on-demand certificate is tried again this often
  // (the TLS side bounds the whole wait; this timer only backs it up).
  static constexpr int64_t kPausedPollMs = 200;
  // A stream with nothing to send (an event stream between events) may wait
  // this long for its next piece.
  static constexpr int64_t kStreamIdleMs = 5 * 60 * 1000;
  // A deferred handler owns its own deadlines (the proxy's first-byte
  // timeout, up to an hour; a store write's queue): this only bounds one that
  // never answers.
  static constexpr int64_t kWaitMs = 2 * 60 * 60 * 1000;

  // worker.cpp: lifecycle, settings, the loop's hooks.
  void AdoptPart(std::unique_ptr<WorkerPart> part);
  void ApplySettings();
  void OnShared();
  void BeginStop();
  // worker_accept.cpp: listeners and admission.
  void OnAccept(Listener* l, bool ignore_limit);
  void PauseAccept();
  void ResumeAccept();
  // worker_conn.cpp: driving a connection, its timers, its end.
  void Drive(Conn* c);
  bool Handshake(Conn* c);
  void BeginLinger(Conn* c);
  void Close(Conn* c);
  void Rearm(Conn* c);
  void SetTimer(Conn* c, int kind, int64_t deadline);
  void Sweep();
  void OnConnIo(Conn* c, uint32_t events);
  bool BodyTooSlow(Conn* c, uint64_t n);

  int index_;
  WorkerShared* shared_;
  std::vector<std::unique_ptr<Listener>> listeners_;
  // Freed after the connections (closed by ~Worker): sessions point into them.
  std::vector<std::unique_ptr<WorkerPart>> parts_;
  std::thread thread_;
  uint64_t next_conn_id_ = 1;
  std::unordered_map<uint64_t, Conn*> conns_by_id_;
  // Connections that stopped only because Drive() hit its per-turn bound:
  // with edge-triggered epoll no new event would wake them, so the loop
  // drives them again on its next turn.
  std::vector<uint64_t> again_;
  // Handshakes paused for an on-demand certificate (by id), tried again at
  // paused_poll_at_.
  std::vector<uint64_t> paused_;
  int64_t paused_poll_at_ = 0;
  std::atomic<bool> finished_{false};

  uint64_t seen_generation_ = 0;
  int64_t header_timeout_ms_ = 0, body_timeout_ms_ = 0, idle_timeout_ms_ = 0, write_timeout_ms_ = 0,
          shutdown_timeout_ms_ = 0;
  int64_t max_connections_ = 0;
  bool accept_paused_ = false;
  bool stopping_ = false;
  int64_t stop_deadline_ = 0;
  size_t conn_count_ = 0;
  Conn* all_head_ = nullptr;  // every open connection, for shutdown
  // Closed this turn, freed at its end: an event for one may still be due in
  // the batch being dispatched (a connection closed from another's OnIo: the
  // oldest idle one, evicted when a new one is accepted).
  std::vector<Conn*> closed_;
  void FreeClosed();
  TimerLists timers_{kTimerCount};
  WorkerMetrics metrics_;
};

}  // namespace hearth
