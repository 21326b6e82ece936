#include "store/sequencer.h"

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

namespace hearth::store {
namespace {

TEST(Sequencer, CommitAdvancesReturnDoesNot) {
  Sequencer seq(1, 0, [] { return int64_t{1000}; });
  auto t = seq.Take();
  EXPECT_EQ(t.index, 1u);
  EXPECT_EQ(t.time_us, 1000);
  seq.Commit(t);
  t = seq.Take();
  EXPECT_EQ(t.index, 2u);
  seq.Return(t);  // the COMMIT failed: the number is handed out again
  t = seq.Take();
  EXPECT_EQ(t.index, 2u);
  seq.Commit(t);
  EXPECT_EQ(seq.next(), 3u);
}

// A clock stepping back never makes a later index older.
TEST(Sequencer, TimeNeverGoesBackwards) {
  int64_t now = 5000;
  Sequencer seq(10, 4000, [&] { return now; });
  auto t = seq.Take();
  EXPECT_EQ(t.time_us, 5000);
  seq.Commit(t);
  now = 3000;
  t = seq.Take();
  EXPECT_EQ(t.index, 11u);
  EXPECT_EQ(t.time_us, 5000);
  seq.Commit(t);
  Sequencer later(1, 9000, [] { return int64_t{1}; });
  EXPECT_EQ(later.Take().time_us, 9000);
}

TEST(Sequencer, AdvanceSkipsPastAppliedEntries) {
  Sequencer seq(1, 0, [] { return int64_t{7}; });
  seq.Advance(41, 100);
  auto t = seq.Take();
  EXPECT_EQ(t.index, 42u);
  EXPECT_EQ(t.time_us, 100);
  seq.Commit(t);
  seq.Advance(10, 50);  // behind: nothing moves back
  EXPECT_EQ(seq.next(), 43u);
}

// Many writers, some of whose COMMITs fail: the committed numbers are exactly
// 1..K, each once, with times that never decrease in index order.
TEST(Sequencer, ConcurrentWritersGetAGapFreeSequence) {
  std::atomic<int64_t> clock{0};
  Sequencer seq(1, 0, [&] { return clock.fetch_add(3) % 1000; });  // wraps: goes back often
  std::mutex mu;
  std::map<uint64_t, int64_t> committed;
  std::vector<std::thread> threads;
  for (int w = 0; w < 4; ++w) {
    threads.emplace_back([&, w] {
      std::mt19937 rng(w);
      for (int i = 0; i < 500; ++i) {
        auto t = seq.Take();
        if (rng() % 4 == 0) {
          seq.Return(t);
          continue;
        }
        {
          std::lock_guard<std::mutex> lock(mu);
          EXPECT_TRUE(committed.emplace(t.index, t.time_us).second) << t.index;
        }
        seq.Commit(t);
      }
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_FALSE(committed.empty());
  uint64_t expect = 1;
  int64_t last = 0;
  for (const auto& [index, time] : committed) {
    EXPECT_EQ(index, expect++);
    EXPECT_GE(time, last);
    last = time;
  }
  EXPECT_EQ(seq.next(), expect);
}

}  // namespace
}  // namespace hearth::store
