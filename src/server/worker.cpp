#include "server/worker.h"

#include <unistd.h>

#include <algorithm>

#include "base/clock.h"
#include "base/log.h"
#include "http/http_session.h"
#include "server/worker_conn.h"

namespace hearth {
namespace {

// A deferred handler's way back to its connection: through the worker's
// inbox, which outlives the worker (a reply finished after the worker has
// gone finds it closed and its answer is dropped).
class WorkerReply : public Reply {
 public:
  WorkerReply(std::shared_ptr<Inbox> inbox,
              std::function<void(std::function<void(Response&)>)> deliver)
      : inbox_(std::move(inbox)), deliver_(std::move(deliver)) {}
  ~WorkerReply() override {
    if (!finished_.exchange(true))
      Send([](Response& res) { res.SetError(500, "the handler did not answer"); });
  }
  void Finish(std::function<void(Response&)> fill) override {
    if (finished_.exchange(true)) return;
    Send(std::move(fill));
  }
  void Wake() override {
    if (!finished_.load()) Send(nullptr);
  }

 private:
  void Send(std::function<void(Response&)> fill) {
    inbox_->Post([deliver = deliver_, fill = std::move(fill)] { deliver(fill); });
  }
  std::shared_ptr<Inbox> inbox_;
  std::function<void(std::function<void(Response&)>)> deliver_;
  std::atomic<bool> finished_{false};
};

}  // namespace

Worker::Worker(int index, WorkerShared* shared, Handler handler,
               std::function<BodyRoute(const Request&)> body_route)
    : index_(index), shared_(shared), handler_(std::move(handler)) {
  ctx_.handler = &handler_;
  ctx_.body_route = std::move(body_route);
  ctx_.date_line = &date_line_;
  ctx_.on_abuse = [this](const char* what) {
    metrics_.http2_abuse.Add();
    Log(LogLevel::kWarn, "HTTP/2 connection closed for abuse",
        {{"what", what}, {"worker", index_}});
  };
  ctx_.on_request = [this](const Request& req, int status, uint64_t bytes, int64_t micros,
                           bool refused) {
    if (refused) metrics_.protocol_errors.Add();
    OnRequestDone(req, status, bytes, micros);
  };
  // Posted functions run on this worker's loop, and only while it runs (the
  // inbox is closed before the worker is freed), so they may hold `this`.
  ctx_.make_waker = [this, inbox = inbox()](uint64_t id) -> std::function<void()> {
    return [this, inbox, id] { inbox->Post([this, id] { DeliverHttp(id, nullptr); }); };
  };
  ctx_.make_reply = [this, inbox = inbox()](uint64_t id) -> std::shared_ptr<Reply> {
    return std::make_shared<WorkerReply>(
        inbox, [this, id](const std::function<void(Response&)>& fill) { DeliverHttp(id, fill); });
  };
  ApplySettings();
  RefreshDate();
}

void Worker::SetHandler(Handler handler, std::function<BodyRoute(const Request&)> body_route) {
  handler_ = std::move(handler);
  ctx_.body_route = std::move(body_route);
}

SessionFactory Worker::HttpSessions() {
  return [this](const SessionInfo& info) -> std::unique_ptr<Session> {
    return std::make_unique<HttpSession>(&ctx_, info);
  };
}

Worker::~Worker() {
  Join();
  CloseInbox();  // replies finished from now on are dropped
  while (all_head_) Close(all_head_);
  FreeClosed();
  for (auto& l : listeners_)
    if (l->fd >= 0) close(l->fd);
}

void Worker::Start() {
  thread_ = std::thread([this] {
    Run();
    finished_.store(true);
  });
}

void Worker::Join() {
  if (thread_.joinable()) thread_.join();
}

void Worker::Wake() {
  Post([this] { OnShared(); });
}

void Worker::OnShared() {
  if (shared_->settings_generation.load() != seen_generation_) ApplySettings();
  if (shared_->stop.load() && !stopping_) BeginStop();
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
        {{"method", std::string(req.method_text)},
         {"path", std::string(req.path)},
         {"status", status},
         {"worker", index_}});
}

void Worker::DeliverHttp(uint64_t id, const std::function<void(Response&)>& fill) {
  auto it = conns_by_id_.find(id);
  if (it == conns_by_id_.end()) return;  // closed meanwhile
  Conn* c = it->second;
  // Ids are the worker's own, and only HTTP sessions hand them to replies.
  auto* http = dynamic_cast<HttpSession*>(c->session.get());
  if (!http) return;
  http->Deliver(fill);
  http->Advance();  // requests pipelined behind it
  Drive(c);
}

int64_t Worker::WaitLimitMs(int64_t now_ms) {
  int64_t limit = 1000;
  if (accept_paused_ || stopping_) limit = 50;
  if (!again_.empty()) limit = 0;
  if (!paused_.empty()) limit = std::min(limit, std::max<int64_t>(0, paused_poll_at_ - now_ms));
  if (int64_t at = timers_.Earliest(); at > 0)
    limit = std::min(limit, std::max<int64_t>(0, at - now_ms));
  return limit;
}

void Worker::OnEvents() {
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
}

void Worker::OnTurnEnd() {
  FreeClosed();  // no event of this turn is left to name them
  // Room again, or an idle connection that can make room (OnAccept closes it).
  if (accept_paused_ && !stopping_ &&
      (shared_->open_connections.load(std::memory_order_relaxed) < max_connections_ ||
       timers_.Head(kTimerIdle)))
    ResumeAccept();
  if (!access_batch_.empty()) {
    shared_->access_log.Write(access_batch_);
    access_batch_.clear();
  }
  if (stopping_) {
    if (conn_count_ == 0) {
      Quit();
    } else if (now_ms_ >= stop_deadline_) {
      Log(LogLevel::kWarn, "shutdown timeout: closing connections still busy",
          {{"worker", index_}, {"connections", conn_count_}});
      while (all_head_) Close(all_head_);
      Quit();
    }
  }
}

void Worker::BeginStop() {
  stopping_ = true;
  stop_deadline_ = now_ms_ + shutdown_timeout_ms_;
  RunStopHooks();
  // Take what already waits in our accept queues: closing a listener would
  // reset those connections.
  if (accept_paused_) ResumeAccept();
  for (auto& l : listeners_) {
    if (l->fd < 0) continue;
    OnAccept(l.get(), true);
    Unwatch(l->fd);
    close(l->fd);
    l->fd = -1;
  }
  for (Conn* c = all_head_; c;) {
    Conn* next = c->anext;
    c->session->Stop(!c->fresh);
    if (c->session->ShouldClose()) {
      if (c->session->out().empty())
        BeginLinger(c);
      else
        Drive(c);  // an ended event stream's last chunk, then linger
    } else if (!c->session->out().empty()) {
      Drive(c);  // HTTP/2: GOAWAY, and streams that ended
    }
    c = next;
  }
}

}  // namespace hearth
