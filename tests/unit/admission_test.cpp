// Admission on one worker: a slot runs at once, a parked request keeps its
// fields and runs when a slot frees, the queue and the wait are bounded (503
// with Retry-After), answers given at once free their slot at once.
#include "guard/admission.h"

#include <gtest/gtest.h>

#include <set>
#include <stdexcept>

namespace hearth::guard {
namespace {

class FakeLoop : public EventLoop {
 public:
  bool Watch(int, IoWatcher*) override { return false; }
  void Unwatch(int) override {}
  const std::shared_ptr<Inbox>& inbox() const override { return inbox_; }
  void AddStopHook(std::function<void()>) override {}
  int64_t NowMs() const override { return now; }
  void AddTicker(std::function<int64_t(int64_t)> t) override { tick = std::move(t); }
  bool ConnectionOpen(uint64_t id) const override { return closed.count(id) == 0; }
  bool Resume(uint64_t, const std::function<void(Session&)>&) override { return false; }
  std::set<uint64_t> closed;
  int64_t now = 1000;
  std::function<int64_t(int64_t)> tick;
  std::shared_ptr<Inbox> inbox_ = std::make_shared<Inbox>(-1);
};

// What the connection would get back.
struct Answer {
  bool finished = false;
  Response res;
};

class TestReply : public Reply {
 public:
  explicit TestReply(std::shared_ptr<Answer> a) : a_(std::move(a)) {}
  void Finish(std::function<void(Response&)> fill) override {
    if (a_->finished) return;
    a_->finished = true;
    fill(a_->res);
  }
  void Wake() override {}

 private:
  std::shared_ptr<Answer> a_;
};

struct Fixture {
  FakeLoop loop;
  Guard guard;
  std::unique_ptr<Admission> admission;
  std::vector<std::shared_ptr<Reply>> deferred;  // replies the handler holds
  std::vector<std::string> ran;                  // paths the handler saw

  explicit Fixture(int64_t max, int64_t queue, int64_t wait_ms) {
    Policy p;
    p.max_in_flight = max;
    p.max_queued = queue;
    p.max_wait_ms = wait_ms;
    guard.SetPolicy(p);
    admission = std::make_unique<Admission>(&loop, &guard);
  }
  // Sends one request whose handler defers (or answers at once if `quick`).
  uint64_t next_id = 1;
  std::shared_ptr<Answer> Send(std::string path, bool quick = false, bool throws = false) {
    auto answer = std::make_shared<Answer>();
    ReplyFactory factory = [answer](uint64_t) { return std::make_shared<TestReply>(answer); };
    Request req;
    std::string owned = path;
    req.path = owned;
    req.method_text = "GET";
    Response res;
    res.reply_factory_ = &factory;
    res.connection_id_ = next_id++;
    try {
      admission->Run(req, res, [this, quick, throws](Request& r, Response& s) {
        ran.emplace_back(r.path);
        if (throws) throw std::runtime_error("handler bug");
        if (quick)
          s.SetText(200, "text/plain", "quick");
        else
          deferred.push_back(s.Defer());
      });
    } catch (const std::exception&) {
      res.SetError(500);  // what Dispatch does
    }
    if (!res.deferred()) {
      answer->finished = true;
      answer->res.status = res.status;
      answer->res.fields = res.fields;
      answer->res.text = res.text;
    }
    return answer;
  }
};

TEST(Admission, RunsParksAndAdmitsInOrder) {
  Fixture f(2, 2, 10000);
  auto a = f.Send("/a");
  auto b = f.Send("/b");
  auto c = f.Send("/c");
  EXPECT_EQ(f.ran, (std::vector<std::string>{"/a", "/b"}));
  EXPECT_EQ(f.admission->in_flight(), 2);
  EXPECT_EQ(f.admission->queued(), 1u);
  f.deferred[0]->Finish([](Response& r) { r.SetText(200, "text/plain", "a"); });
  EXPECT_TRUE(a->finished);
  EXPECT_EQ(f.admission->in_flight(), 1);
  f.loop.tick(f.loop.now);
  EXPECT_EQ(f.ran.back(), "/c");  // the parked copy kept its path
  EXPECT_EQ(f.admission->in_flight(), 2);
  f.deferred[2]->Finish([](Response& r) { r.SetText(201, "text/plain", "c"); });
  EXPECT_TRUE(c->finished);
  EXPECT_EQ(c->res.status, 201);
  EXPECT_FALSE(b->finished);
}

TEST(Admission, BoundedQueueAndWaitAnswer503) {
  Fixture f(1, 1, 500);
  f.Send("/a");
  auto queued = f.Send("/b");
  auto refused = f.Send("/c");
  ASSERT_TRUE(refused->finished);
  EXPECT_EQ(refused->res.status, 503);
  EXPECT_EQ(refused->res.FindHeader("Retry-After"), "1");
  EXPECT_FALSE(queued->finished);
  f.loop.now += 499;
  f.loop.tick(f.loop.now);
  EXPECT_FALSE(queued->finished);
  f.loop.now += 1;
  f.loop.tick(f.loop.now);
  ASSERT_TRUE(queued->finished);
  EXPECT_EQ(queued->res.status, 503);
  EXPECT_EQ(f.guard.refusals(Reason::kAdmission), 2u);
  EXPECT_EQ(f.ran, (std::vector<std::string>{"/a"}));
}

TEST(Admission, QuickAnswersFreeTheirSlotAndParkedOnesAreDelivered) {
  Fixture f(1, 4, 10000);
  auto a = f.Send("/a", true);
  EXPECT_TRUE(a->finished);
  EXPECT_EQ(f.admission->in_flight(), 0);
  f.Send("/slow");
  auto q = f.Send("/quick", true);  // parked behind /slow
  EXPECT_FALSE(q->finished);
  f.deferred[0].reset();  // dropped without an answer: the slot frees too
  f.loop.tick(f.loop.now);
  ASSERT_TRUE(q->finished);
  EXPECT_EQ(q->res.status, 200);
  EXPECT_EQ(q->res.text, "quick");
  EXPECT_EQ(f.admission->in_flight(), 0);
}

TEST(Admission, ThrowingHandlersNeitherLeakSlotsNorEscapeTheTick) {
  Fixture f(1, 2, 10000);
  auto a = f.Send("/boom", false, true);
  EXPECT_EQ(a->res.status, 500);
  EXPECT_EQ(f.admission->in_flight(), 0);  // the slot came back
  f.Send("/slow");
  auto parked = f.Send("/boom-later", false, true);
  f.deferred[0]->Finish([](Response& r) { r.SetText(200, "text/plain", "ok"); });
  f.loop.tick(f.loop.now);  // runs /boom-later: its exception stays here
  ASSERT_TRUE(parked->finished);
  EXPECT_EQ(parked->res.status, 500);
  EXPECT_EQ(f.admission->in_flight(), 0);
}

TEST(Admission, RequestsOfClientsThatLeftAreDropped) {
  Fixture f(1, 4, 10000);
  f.Send("/a");
  f.Send("/gone");  // connection 2
  f.Send("/here");  // connection 3
  f.loop.closed.insert(2);
  f.deferred[0]->Finish([](Response& r) { r.SetText(200, "text/plain", "a"); });
  f.loop.tick(f.loop.now);
  EXPECT_EQ(f.ran, (std::vector<std::string>{"/a", "/here"}));
}

TEST(Admission, NoBoundRunsEverything) {
  Fixture f(0, 0, 0);
  for (int i = 0; i < 100; ++i) f.Send("/x");
  EXPECT_EQ(f.ran.size(), 100u);
  EXPECT_EQ(f.admission->queued(), 0u);
}

}  // namespace
}  // namespace hearth::guard
