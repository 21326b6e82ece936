// The scheduler: periodic jobs run again a period after they end, one-shot
// jobs once, a poke runs a job now, a cancelled job runs no more, Stop waits
// for the runs in progress, and jobs carry their name and leader_only flag.
#include "base/scheduler.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>

namespace hearth {
namespace {

using std::chrono::milliseconds;

// Waits (bounded) until `done`.
template <typename F>
bool WaitFor(F done, int ms = 3000) {
  for (int i = 0; i < ms / 5; ++i) {
    if (done()) return true;
    std::this_thread::sleep_for(milliseconds(5));
  }
  return done();
}

TEST(Scheduler, PeriodicAndOneShot) {
  std::atomic<int> ticks{0}, once{0};
  // Declared after what its jobs touch: it stops (and waits for a running
  // job) before they go out of scope.
  Scheduler s("test-jobs");
  s.Every("tick", 20, [&] { ticks.fetch_add(1); });
  s.After("once", 10, [&] { once.fetch_add(1); });
  EXPECT_TRUE(WaitFor([&] { return ticks.load() >= 3; }));
  EXPECT_EQ(once.load(), 1);
  std::this_thread::sleep_for(milliseconds(50));
  EXPECT_EQ(once.load(), 1);
  auto jobs = s.Jobs();
  ASSERT_EQ(jobs.size(), 1u);  // the one-shot is gone
  EXPECT_EQ(jobs[0].name, "tick");
  EXPECT_TRUE(jobs[0].periodic);
}

TEST(Scheduler, PokeCancelAndLeaderOnly) {
  std::atomic<int> runs{0};
  // Declared after what its jobs touch: it stops (and waits for a running
  // job) before they go out of scope.
  Scheduler s("test-jobs", 2);
  uint64_t id =
      s.Every("backup", 60 * 60 * 1000, [&] { runs.fetch_add(1); }, {.leader_only = true});
  std::this_thread::sleep_for(milliseconds(30));
  EXPECT_EQ(runs.load(), 0);
  s.RunSoon(id);
  EXPECT_TRUE(WaitFor([&] { return runs.load() == 1; }));
  std::this_thread::sleep_for(milliseconds(30));
  EXPECT_EQ(runs.load(), 1);  // then a full period again, not a loop
  auto jobs = s.Jobs();
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_TRUE(jobs[0].leader_only);
  EXPECT_EQ(jobs[0].runs, 1u);
  s.Cancel(id);
  EXPECT_TRUE(s.Jobs().empty());
  s.RunSoon(id);  // unknown now: nothing
  std::this_thread::sleep_for(milliseconds(30));
  EXPECT_EQ(runs.load(), 1);
}

TEST(Scheduler, NeverTwoRunsOfOneJobAtOnce) {
  std::atomic<int> inside{0}, most{0}, runs{0};
  // Declared after what its jobs touch: it stops (and waits for a running
  // job) before they go out of scope.
  Scheduler s("test-jobs", 2);
  s.Every("slow", 1, [&] {
    int now = inside.fetch_add(1) + 1;
    most.store(std::max(most.load(), now));
    std::this_thread::sleep_for(milliseconds(10));
    inside.fetch_sub(1);
    runs.fetch_add(1);
  });
  EXPECT_TRUE(WaitFor([&] { return runs.load() >= 5; }));
  EXPECT_EQ(most.load(), 1);
}

TEST(Scheduler, TimedJobPicksItsNextRun) {
  std::atomic<int> runs{0};
  // Declared after what its jobs touch: it stops (and waits for a running
  // job) before they go out of scope.
  Scheduler s("test-jobs");
  s.Timed("ocsp-like", 0, [&]() -> int64_t {
    int n = runs.fetch_add(1) + 1;
    return n < 3 ? 10 : -1;  // twice more, soon; then done
  });
  EXPECT_TRUE(WaitFor([&] { return runs.load() == 3 && s.Jobs().empty(); }));
  std::this_thread::sleep_for(milliseconds(30));
  EXPECT_EQ(runs.load(), 3);
}

TEST(Scheduler, CancelWaitsForARunningRun) {
  std::atomic<bool> started{false}, finished{false};
  // Declared after what its jobs touch: it stops (and waits for a running
  // job) before they go out of scope.
  Scheduler s("test-jobs");
  uint64_t id = s.Every(
      "slow", 1000,
      [&] {
        started.store(true);
        std::this_thread::sleep_for(milliseconds(100));
        finished.store(true);
      },
      {}, 0);
  ASSERT_TRUE(WaitFor([&] { return started.load(); }));
  s.Cancel(id);
  EXPECT_TRUE(finished.load());
  EXPECT_TRUE(s.Jobs().empty());
}

TEST(Scheduler, StopWaitsForARunningJob) {
  std::atomic<bool> started{false}, finished{false};
  auto s = std::make_unique<Scheduler>("test-jobs");
  s->After("long", 0, [&] {
    started.store(true);
    std::this_thread::sleep_for(milliseconds(100));
    finished.store(true);
  });
  s->Every("never", 60 * 1000, [] { FAIL() << "ran after Stop"; });
  ASSERT_TRUE(WaitFor([&] { return started.load(); }));
  s->Stop();
  EXPECT_TRUE(finished.load());
  EXPECT_TRUE(s->stopping());
  s.reset();
}

// A job that cancels itself (or another job of its scheduler) returns at
// once instead of waiting for its own run to end.
TEST(Scheduler, CancelFromInsideAJobDoesNotWaitForItself) {
  std::atomic<uint64_t> self{0};
  std::atomic<int> runs{0};
  // Declared after what its jobs touch: it stops (and waits for a running
  // job) before they go out of scope.
  Scheduler s("t", 1);
  self = s.Every("self", 10, [&] {
    ++runs;
    s.Cancel(self.load());
  });
  EXPECT_TRUE(WaitFor([&] { return runs.load() >= 1 && s.Jobs().empty(); }));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(runs.load(), 1);  // cancelled: no second run
}

// A job that throws is logged and tried again later; the process goes on.
TEST(Scheduler, AThrowingJobDoesNotEndTheProcess) {
  std::atomic<int> tries{0};
  std::atomic<bool> other{false};
  // Declared after what its jobs touch: it stops (and waits for a running
  // job) before they go out of scope.
  Scheduler s("t", 1);
  s.After("throws", 0, [&] {
    ++tries;
    throw std::runtime_error("disk on fire");
  });
  EXPECT_TRUE(WaitFor([&] { return tries.load() == 1; }));
  s.After("other", 0, [&] { other = true; });
  EXPECT_TRUE(WaitFor([&] { return other.load(); }));
}

}  // namespace
}  // namespace hearth
