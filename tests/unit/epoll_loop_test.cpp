// The event loop on its own (no worker): stop hooks run once, in order, on
// the loop's thread when its owner begins a graceful stop; a post to the
// inbox of a loop that is gone is dropped.
#include "io/epoll_loop.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace hearth {
namespace {

// An owner as small as a worker's loop role: a posted Stop begins the stop
// (the hooks), and the loop quits at that turn's end.
class TestLoop : public EpollLoop {
 public:
  bool ConnectionOpen(uint64_t) const override { return false; }
  bool Resume(uint64_t, const std::function<void(Session&)>&) override { return false; }
  void Restart() { stopping_ = false; }
  void Stop() {
    inbox()->Post([this] {
      RunStopHooks();
      stopping_ = true;
    });
  }

 protected:
  void OnTurnEnd() override {
    if (stopping_) Quit();
  }

 private:
  bool stopping_ = false;
};

TEST(EpollLoop, StopHooksRunOnceInOrderOnTheLoop) {
  TestLoop loop;
  std::vector<std::string> ran;  // touched only on the loop's thread, read after join
  std::thread::id hook_thread;
  loop.AddStopHook([&] {
    ran.push_back("first");
    hook_thread = std::this_thread::get_id();
  });
  loop.AddStopHook([&] { ran.push_back("second"); });
  std::thread t([&] { loop.Run(); });
  std::thread::id loop_thread = t.get_id();
  loop.Stop();
  t.join();
  EXPECT_EQ(ran, (std::vector<std::string>{"first", "second"}));
  EXPECT_EQ(hook_thread, loop_thread);
  // Run and stopped again: the hooks were forgotten after their run.
  loop.Restart();
  std::thread again([&] { loop.Run(); });
  loop.Stop();
  again.join();
  EXPECT_EQ(ran.size(), 2u);
}

TEST(EpollLoop, AClosedInboxDropsPostsAndFreesThem) {
  std::shared_ptr<Inbox> inbox;
  {
    TestLoop loop;
    inbox = loop.inbox();
    std::thread t([&] { loop.Run(); });
    loop.Stop();
    t.join();
  }  // the loop is gone; its inbox is not
  auto token = std::make_shared<int>(0);
  std::atomic<bool> ran{false};
  std::thread other([&] { inbox->Post([&ran, token] { ran.store(true); }); });
  other.join();
  EXPECT_FALSE(ran.load());
  EXPECT_EQ(token.use_count(), 1);  // the dropped function was destroyed
}

}  // namespace
}  // namespace hearth
