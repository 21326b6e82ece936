#include "guard/admission.h"

#include <string>
#include <vector>

#include "http/request_clone.h"

namespace hearth::guard {
namespace {

// Holds a slot until the answer starts (or the reply is dropped).
class SlotReply : public Reply {
 public:
  SlotReply(std::shared_ptr<Reply> inner, std::shared_ptr<std::atomic<int64_t>> in_flight)
      : inner_(std::move(inner)), in_flight_(std::move(in_flight)) {}
  ~SlotReply() override { Free(); }
  void Finish(std::function<void(Response&)> fill) override {
    Free();  // before the post: the worker's tick sees the slot free when it wakes
    inner_->Finish(std::move(fill));
  }
  void Wake() override { inner_->Wake(); }

 private:
  void Free() {
    if (!freed_.exchange(true)) in_flight_->fetch_sub(1);
  }
  std::shared_ptr<Reply> inner_;
  std::shared_ptr<std::atomic<int64_t>> in_flight_;
  std::atomic<bool> freed_{false};
};

// Takes a parked request's body while it waits: nothing (the connection
// pauses), then whatever sink the handler sets once it runs.
class WaitingSink : public BodySink {
 public:
  size_t OnData(std::string_view bytes) override {
    if (target) return target->OnData(bytes);
    return 0;  // paused until the request runs (its waker resumes the body)
  }
  void OnEnd(bool ok) override {
    ended = true;
    if (target)
      target->OnEnd(ok);
    else
      end_ok = ok;
  }
  std::shared_ptr<BodySink> target;
  bool ended = false;
  bool end_ok = false;
};

// The user-visible parts of an answer (not the protocol layer's).
void MoveAnswer(Response& from, Response& to) {
  to.status = from.status;
  to.body_kind = from.body_kind;
  to.text = std::move(from.text);
  to.shared = std::move(from.shared);
  to.file = std::move(from.file);
  to.offset = from.offset;
  to.length = from.length;
  to.stream = std::move(from.stream);
  to.stream_ok = std::move(from.stream_ok);
  to.stream_sized = from.stream_sized;
  to.stream_endless = from.stream_endless;
  to.close_connection = from.close_connection;
  to.upgrade_sink = std::move(from.upgrade_sink);
  to.fields = std::move(from.fields);
}

}  // namespace

// A request waiting for a slot.
struct Admission::Parked {
  std::unique_ptr<OwnedRequest> request;  // its own copy of everything the views named
  std::shared_ptr<Reply> reply;
  std::function<void()> waker;
  std::shared_ptr<WaitingSink> sink;
  Handler handler;
  int64_t since_ms;
  uint64_t connection_id;
};

Admission::Admission(EventLoop* loop, Guard* guard)
    : loop_(loop), guard_(guard), in_flight_(std::make_shared<std::atomic<int64_t>>(0)) {
  loop_->AddTicker([this](int64_t now) { return Tick(now); });
}

Admission::~Admission() = default;

void Admission::Run(Request& req, Response& res, const Handler& handler) {
  const Policy& lim = guard_->policy();
  if (lim.max_in_flight <= 0) {
    handler(req, res);
    return;
  }
  if (in_flight_->load() < lim.max_in_flight && queue_.empty()) {
    in_flight_->fetch_add(1);
    // The handler's Reply (if it defers) holds the slot until the answer
    // starts; an answer given at once frees it at once.
    const ReplyFactory* original = res.reply_factory_;
    ReplyFactory counting = [original,
                             in_flight = in_flight_](uint64_t id) -> std::shared_ptr<Reply> {
      auto inner = original && *original ? (*original)(id) : nullptr;
      if (!inner) return nullptr;
      return std::make_shared<SlotReply>(std::move(inner), in_flight);
    };
    // Restored, and the slot given back unless a Reply holds it, however the
    // handler leaves (an exception goes on to Dispatch, which answers 500).
    struct Restore {
      Response& res;
      const ReplyFactory* original;
      std::atomic<int64_t>& in_flight;
      ~Restore() {
        res.reply_factory_ = original;
        if (!res.deferred()) in_flight.fetch_sub(1);
      }
    } restore{res, original, *in_flight_};
    res.reply_factory_ = &counting;
    handler(req, res);
    return;
  }
  if (static_cast<int64_t>(queue_.size()) >= lim.max_queued) {
    guard_->Count(Reason::kAdmission, req.ClientIp());
    res.SetError(503, "the server is busy; try again shortly");
    res.SetHeader("Retry-After", "1");
    return;
  }
  auto p = std::make_unique<Parked>();
  p->reply = res.Defer();
  if (!p->reply) {  // the protocol cannot wait: run it now, over the bound
    handler(req, res);
    return;
  }
  p->waker = res.MakeWaker();
  p->request = CloneRequest(req, /*take_body=*/true);
  p->handler = handler;
  p->since_ms = loop_->NowMs();
  p->connection_id = res.connection_id_;
  if (req.body_pending) {
    p->sink = std::make_shared<WaitingSink>();
    req.body_sink = p->sink;
  }
  queue_.push_back(std::move(p));
}

void Admission::Start(Parked& p) {
  in_flight_->fetch_add(1);
  Request& req = p.request->request;
  req.body_sink.reset();  // the handler sets its own
  // The handler's Defer() gets the reply the connection already waits on.
  auto slot = std::make_shared<SlotReply>(p.reply, in_flight_);
  if (p.sink && p.sink->ended && !p.sink->end_ok) {
    // The client's body broke off while it waited: nothing to run.
    slot->Finish([](Response& res) { res.SetError(400, "request body incomplete"); });
    return;
  }
  ReplyFactory same = [slot](uint64_t) -> std::shared_ptr<Reply> { return slot; };
  std::function<void()> waker = p.waker;
  WakerFactory waker_factory = [waker](uint64_t) { return waker; };
  Response res;
  res.reply_factory_ = &same;
  res.waker_factory_ = &waker_factory;
  res.connection_id_ = p.connection_id;
  try {
    p.handler(req, res);
  } catch (const std::exception&) {
    // Run from the loop's tick, where nothing above would catch it.
    res.Reset();
    res.SetError(500);
  }
  if (p.sink) {
    p.sink->target = req.body_sink;
    if (p.sink->ended && p.sink->target)
      p.sink->target->OnEnd(p.sink->end_ok);
    else if (p.waker)
      p.waker();  // the paused body flows to the handler now
  }
  if (!res.deferred()) {
    auto answer = std::make_shared<Response>();
    MoveAnswer(res, *answer);
    slot->Finish([answer](Response& out) { MoveAnswer(*answer, out); });
  }
}

int64_t Admission::Tick(int64_t now) {
  if (queue_.empty()) return 0;
  // Copied: a handler run below may look at the policy, which can swap this
  // thread's cached one.
  const Policy& current = guard_->policy();
  const int64_t max_in_flight = current.max_in_flight, max_wait_ms = current.max_wait_ms;
  // Requests whose clients left are dropped, not run: a client must not fill
  // the queue by connecting, asking and leaving.
  for (auto it = queue_.begin(); it != queue_.end();)
    if (!loop_->ConnectionOpen((*it)->connection_id))
      it = queue_.erase(it);
    else
      ++it;
  // Waited too long: answered now, so the client can go elsewhere or retry.
  while (!queue_.empty() && now - queue_.front()->since_ms >= max_wait_ms) {
    std::unique_ptr<Parked> p = std::move(queue_.front());
    queue_.pop_front();
    guard_->Count(Reason::kAdmission, p->request->request.ClientIp());
    p->reply->Finish([](Response& res) {
      res.SetError(503, "the server is busy; try again shortly");
      res.SetHeader("Retry-After", "1");
    });
  }
  while (!queue_.empty() && (max_in_flight <= 0 || in_flight_->load() < max_in_flight)) {
    std::unique_ptr<Parked> p = std::move(queue_.front());
    queue_.pop_front();
    Start(*p);
  }
  if (queue_.empty()) return 0;
  return std::min(now + 50, queue_.front()->since_ms + max_wait_ms);
}

}  // namespace hearth::guard
