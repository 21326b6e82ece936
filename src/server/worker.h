#pragma once
// Worker: one thread, one epoll loop, its own SO_REUSEPORT listener, its own
// connections, handlers and caches. Nothing on the request path takes a lock
// or touches another worker's memory.
//
// Timeouts: every connection is on exactly one of these lists, by what it is
// waiting for; each list is in deadline order because every entry on it got
// the same duration, so a sweep only looks at list heads.
//   header    first byte of a request head -> whole head (fixed, not extended
//             by trickling bytes: a slowloris client gets no more time)
//   body      each read of a request body (extended by progress)
//   idle      keep-alive wait for the next request
//   write     response bytes waiting on a slow reader (extended by progress)
//   linger    after our last response: drain the peer's bytes, then close
//   stream    a streamed response waiting for its producer (SSE between events)
//   wait      a deferred handler's answer (or a paused body sink), bounded by the handler
#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "guard/guard.h"
#include "http/h1_connection.h"
#include "io/event_loop.h"
#include "http/router.h"
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

// Where deferred replies are handed back to a worker, from any thread. Shared
// with every Reply the worker made, so a reply finished after the worker has
// gone finds it closed and drops its answer instead of touching freed memory.
// A null `fill` only wakes the connection (Reply::Wake).
class Mailbox {
 public:
  explicit Mailbox(int wake_fd) : wake_fd_(wake_fd) {}
  // Posts from the owner thread itself (a proxied answer, made on the worker
  // that holds the connection) skip the lock and the eventfd.
  void SetOwner(std::thread::id owner) { owner_.store(owner); }
  void Post(uint64_t connection_id, std::function<void(Response&)> fill);
  void Close();
  // The worker takes everything posted so far (owner thread only).
  std::vector<std::pair<uint64_t, std::function<void(Response&)>>> Take();
  // Whether the owner thread posted something it has not taken (owner thread only).
  bool HasLocal() const { return !local_.empty(); }

 private:
  std::mutex mu_;
  std::atomic<bool> closed_{false};
  int wake_fd_;
  std::atomic<std::thread::id> owner_{};
  std::vector<std::pair<uint64_t, std::function<void(Response&)>>> posted_;
  std::vector<std::pair<uint64_t, std::function<void(Response&)>>> local_;
};

class Worker : public EventLoop {
 public:
  // `handler` is this worker's own root handler (with its own caches);
  // `body_route` picks the requests whose bodies it takes as they arrive.
  // Either may be given later with SetHandler (handlers that use the loop
  // are made after it), but before Start.
  Worker(int index, WorkerShared* shared, int listen_fd, Handler handler = nullptr,
         std::function<BodyRoute(const Request&)> body_route = nullptr);
  void SetHandler(Handler handler, std::function<BodyRoute(const Request&)> body_route);
  // Also serves HTTPS: connections accepted on `listen_fd` speak TLS with
  // the certificates `tls` holds (set before Start).
  void AddTlsListener(int listen_fd, const tls::TlsServer* tls);
  ~Worker() override;
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  void Start();
  void Join();
  // Wakes the loop to look at `shared` (stop, new settings).
  void Wake();
  const WorkerMetrics& metrics() const { return metrics_; }
  // True once the loop has ended (after a stop, when its connections are done).
  bool finished() const { return finished_.load(); }

  // EventLoop, for handlers running on this worker's thread.
  bool Watch(int fd, IoWatcher* watcher) override;
  int64_t NowMs() const override { return now_ms_; }
  void AddTicker(std::function<int64_t(int64_t now_ms)> tick) override { tickers_.push_back(std::move(tick)); }
  bool ConnectionOpen(uint64_t id) const override { return conns_by_id_.count(id) != 0; }

 private:
  struct Conn;
  enum TimerKind { kTimerHeader, kTimerBody, kTimerIdle, kTimerWrite, kTimerLinger, kTimerStream, kTimerWait,
                   kTimerTlsPaused, kTimerCount };
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
  struct TimerList {
    Conn* head = nullptr;
    Conn* tail = nullptr;
  };

  void Run();
  void ApplySettings();
  void OnAccept(int listen_fd, bool tls, bool ignore_limit);
  void PauseAccept();
  void ResumeAccept();
  void Drive(Conn* c);
  void BeginLinger(Conn* c);
  void Close(Conn* c);
  void Rearm(Conn* c);
  void SetTimer(Conn* c, int kind, int64_t deadline);
  void Unlink(Conn* c);
  void Sweep();
  void RefreshDate();
  void BeginStop();
  void OnRequestDone(const Request& req, int status, uint64_t bytes, int64_t micros);
  void DeliverReplies();
  void OnConnIo(Conn* c, uint32_t events);
  bool BodyTooSlow(Conn* c, uint64_t n);

  int index_;
  WorkerShared* shared_;
  int listen_fd_;
  int tls_listen_fd_ = -1;
  const tls::TlsServer* tls_ = nullptr;
  Handler handler_;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  std::thread thread_;
  std::shared_ptr<Mailbox> mailbox_;
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

  H1Context ctx_;
  std::string date_line_;
  int64_t date_second_ = 0;
  int64_t now_ms_ = 0;
  uint64_t seen_generation_ = 0;
  int64_t header_timeout_ms_ = 0, body_timeout_ms_ = 0, idle_timeout_ms_ = 0,
          write_timeout_ms_ = 0, shutdown_timeout_ms_ = 0;
  int64_t max_connections_ = 0;
  bool accept_paused_ = false;
  bool stopping_ = false;
  int64_t stop_deadline_ = 0;
  size_t conn_count_ = 0;
  Conn* all_head_ = nullptr;  // every open connection, for shutdown
  TimerList timers_[kTimerCount];
  std::vector<std::function<int64_t(int64_t)>> tickers_;
  int64_t next_tick_ = 0;  // earliest deadline a ticker asked for (0: none)
  std::string access_batch_;
  WorkerMetrics metrics_;
};

}  // namespace hearth
