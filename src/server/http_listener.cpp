#include "server/http_listener.h"

#include <atomic>

#include "base/clock.h"
#include "base/log.h"
#include "http/http_session.h"

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

HttpSessions* HttpSessions::On(Worker& worker, Handler handler,
                               std::function<BodyRoute(const Request&)> body_route) {
  HttpSessions* http = worker.Adopt(std::unique_ptr<HttpSessions>(new HttpSessions(worker)));
  if (handler) http->SetHandler(std::move(handler), std::move(body_route));
  return http;
}

HttpSessions::HttpSessions(Worker& worker) : worker_(&worker) {
  ctx_.handler = &handler_;
  ctx_.date_line = &date_line_;
  ctx_.on_abuse = [this](const char* what) {
    worker_->metrics().http2_abuse.Add();
    Log(LogLevel::kWarn, "HTTP/2 connection closed for abuse",
        {{"what", what}, {"worker", worker_->index()}});
  };
  ctx_.on_request = [this](const Request& req, int status, uint64_t bytes, int64_t micros,
                           bool refused) {
    if (refused) worker_->metrics().protocol_errors.Add();
    OnRequestDone(req, status, bytes, micros);
  };
  // Posted functions run on the worker's loop, and only while it runs (the
  // inbox is closed before the worker, and this with it, is freed), so they
  // may hold `this`. Other threads hold only the inbox.
  ctx_.make_waker = [this, inbox = worker.inbox()](uint64_t id) -> std::function<void()> {
    return [this, inbox, id] { inbox->Post([this, id] { Deliver(id, nullptr); }); };
  };
  ctx_.make_reply = [this, inbox = worker.inbox()](uint64_t id) -> std::shared_ptr<Reply> {
    return std::make_shared<WorkerReply>(
        inbox, [this, id](const std::function<void(Response&)>& fill) { Deliver(id, fill); });
  };
  RefreshDate();
}

void HttpSessions::SetHandler(Handler handler,
                              std::function<BodyRoute(const Request&)> body_route) {
  handler_ = std::move(handler);
  ctx_.body_route = std::move(body_route);
}

SessionFactory HttpSessions::Factory() {
  return [this](const SessionInfo& info) -> std::unique_ptr<Session> {
    return std::make_unique<HttpSession>(&ctx_, info);
  };
}

void HttpSessions::OnSettings(const Settings& s) {
  ctx_.limits.max_header_bytes = s.max_header_size;
  ctx_.limits.max_target_bytes = s.max_target_size;
  ctx_.limits.max_body_bytes = s.max_body_size;
}

void HttpSessions::RefreshDate() {
  int64_t sec = WallNowSeconds();
  if (sec == date_second_) return;
  date_second_ = sec;
  date_line_ = "Date: " + FormatHttpDate(sec) + "\r\n";
}

void HttpSessions::OnTurnEnd() {
  if (access_batch_.empty()) return;
  worker_->shared()->access_log.Write(access_batch_);
  access_batch_.clear();
}

void HttpSessions::OnRequestDone(const Request& req, int status, uint64_t bytes, int64_t micros) {
  worker_->metrics().RecordRequest(status, micros);
  if (worker_->shared()->access_log.enabled())
    AppendAccessLine(&access_batch_, req, status, bytes, micros);
  if (LogEnabled(LogLevel::kDebug))
    Log(LogLevel::kDebug, "request",
        {{"method", std::string(req.method_text)},
         {"path", std::string(req.path)},
         {"status", status},
         {"worker", worker_->index()}});
}

void HttpSessions::Deliver(uint64_t id, const std::function<void(Response&)>& fill) {
  worker_->Resume(id, [&fill](Session& s) {
    // Ids are the worker's own, and only HTTP sessions hand them to replies.
    auto* http = dynamic_cast<HttpSession*>(&s);
    if (!http) return;
    http->Deliver(fill);
    http->Advance();  // requests pipelined behind it
  });
}

}  // namespace hearth
