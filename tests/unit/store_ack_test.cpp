// Pipelined acknowledgements (Store::Hold / Store::Acknowledge): with a
// stream, a committed batch's writes are acknowledged once the sink says
// they may be (EntrySink::Acknowledgeable), in commit order, while the writer
// goes on committing later batches; a bounded number wait at once, a stop
// acknowledges everything committed, and a sink that never answers delays
// them by Options::ack_stall at most.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "store/capture.h"
#include "store/store.h"

namespace hearth::store {
namespace {

using namespace std::chrono_literals;

// Keeps entries in memory and lets them be acknowledged only up to what the
// test released, the way the cluster's log will (once a quorum has them).
class HeldSink : public EntrySink {
 public:
  Result<uint64_t> Append(std::string_view entry) override {
    std::lock_guard<std::mutex> lock(mu_);
    uint64_t at = bytes_;
    bytes_ += entry.size();
    ++entries_;
    return at;
  }
  void TruncateTo(uint64_t offset) override {
    std::lock_guard<std::mutex> lock(mu_);
    bytes_ = offset;
    --entries_;
  }
  void Break(const std::string& why) override { ADD_FAILURE() << "unexpected break: " << why; }
  bool Acknowledgeable(uint64_t end) const override {
    std::lock_guard<std::mutex> lock(mu_);
    return end <= released_;
  }
  bool AwaitAcknowledgeable(uint64_t end, std::chrono::milliseconds timeout) override {
    std::unique_lock<std::mutex> lock(mu_);
    ++awaits_;
    return cv_.wait_for(lock, timeout, [&] { return end <= released_; });
  }
  uint64_t WatchAcknowledgeable(std::function<void()> wake) override {
    if (!watchable) return 0;
    std::lock_guard<std::mutex> calls(calls_mu_);
    wakes_[++next_] = std::move(wake);
    return next_;
  }
  void UnwatchAcknowledgeable(uint64_t token) override {
    std::lock_guard<std::mutex> calls(calls_mu_);
    wakes_.erase(token);
  }
  // Lets everything appended so far be acknowledged, and wakes the writers.
  void ReleaseAll() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      released_ = bytes_;
    }
    cv_.notify_all();
    std::lock_guard<std::mutex> calls(calls_mu_);
    for (auto& [token, wake] : wakes_) wake();
  }
  int entries() const {
    std::lock_guard<std::mutex> lock(mu_);
    return entries_;
  }
  int awaits() const {
    std::lock_guard<std::mutex> lock(mu_);
    return awaits_;
  }
  bool watchable = true;  // false: a sink that cannot wake a writer
  size_t watchers() {
    std::lock_guard<std::mutex> calls(calls_mu_);
    return wakes_.size();
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  uint64_t bytes_ = 0, released_ = 0;
  int entries_ = 0, awaits_ = 0;
  std::mutex calls_mu_;  // held while calling wakes_: Unwatch waits for a call under way
  std::map<uint64_t, std::function<void()>> wakes_;
  uint64_t next_ = 0;
};

const std::vector<Migration> kMigrations = {
    {1, "CREATE TABLE items (id TEXT PRIMARY KEY NOT NULL, n INTEGER NOT NULL DEFAULT 0);"},
};

// The order writes were acknowledged in, and with what.
struct Acks {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> order;
  std::map<std::string, Status> status;
  Store::DoneFn Done(std::string name) {
    return [this, name](const Status& st) {
      std::lock_guard<std::mutex> lock(mu);
      order.push_back(name);
      status.emplace(name, st);
      cv.notify_all();
    };
  }
  size_t Count() {
    std::lock_guard<std::mutex> lock(mu);
    return order.size();
  }
  bool WaitFor(size_t n, std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mu);
    return cv.wait_for(lock, timeout, [&] { return order.size() >= n; });
  }
};

class StoreAckTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/hearth-ack-XXXXXX";
    dir_ = mkdtemp(tmpl);
    stream_ = std::make_shared<StreamContext>();
    stream_->sequencer = &sequencer_;
    stream_->sink = &sink_;
    stream_->node_id = 7;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<Store> Open(std::chrono::milliseconds stall = 10s) {
    Store::Options o;
    o.path = dir_ + "/app.db";
    o.migrations = kMigrations;
    o.name = "apps/app.db";
    o.stream = stream_;
    o.ack_stall = stall;
    auto s = Store::Open(std::move(o));
    EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().message);
    return s.ok() ? std::move(s).value() : nullptr;
  }
  static Store::WriteFn Insert(const std::string& id) {
    return [id](Connection& c) { return c.Exec("INSERT INTO items (id) VALUES ('" + id + "')"); };
  }
  static int64_t Rows(Store& s) {
    auto q = s.Reader(0).Prepare("SELECT count(*) FROM items");
    EXPECT_TRUE(q.ok());
    if (!q.ok()) return -1;
    Status st = OkStatus();
    return q->Step(&st) ? q->Int(0) : -1;
  }
  // Waits until a reader sees `n` rows (committed: an entry is appended just
  // before its COMMIT).
  bool WaitRows(Store& s, int64_t n, std::chrono::milliseconds timeout = 5s) {
    auto until = std::chrono::steady_clock::now() + timeout;
    while (Rows(s) < n) {
      if (std::chrono::steady_clock::now() > until) return false;
      std::this_thread::sleep_for(1ms);
    }
    return true;
  }
  // Waits until the sink holds `n` entries (appended, just before COMMIT).
  bool WaitEntries(int n, std::chrono::milliseconds timeout = 5s) {
    auto until = std::chrono::steady_clock::now() + timeout;
    while (sink_.entries() < n) {
      if (std::chrono::steady_clock::now() > until) return false;
      std::this_thread::sleep_for(1ms);
    }
    return true;
  }

  std::string dir_;
  Sequencer sequencer_{1, 0};
  HeldSink sink_;
  std::shared_ptr<StreamContext> stream_;
};

TEST_F(StoreAckTest, AWriteIsAcknowledgedOnlyOnceTheSinkLetsIt) {
  auto store = Open();
  ASSERT_TRUE(store);
  EXPECT_EQ(sink_.watchers(), 1u);
  Acks acks;
  store->SubmitWrite(Insert("a"), acks.Done("a"));
  // Committed (a reader sees it), not acknowledged.
  ASSERT_TRUE(WaitRows(*store, 1));
  EXPECT_FALSE(acks.WaitFor(1, 100ms));
  // The writer is not held up: the next write commits meanwhile.
  store->SubmitWrite(Insert("b"), acks.Done("b"));
  ASSERT_TRUE(WaitRows(*store, 2));
  EXPECT_EQ(acks.Count(), 0u);
  // Released with no write coming after: the sink's wake-up alone acknowledges.
  sink_.ReleaseAll();
  ASSERT_TRUE(acks.WaitFor(2, 2s));
  EXPECT_EQ(acks.order, (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(acks.status.at("a").ok());
  EXPECT_TRUE(acks.status.at("b").ok());
  store.reset();
  EXPECT_EQ(sink_.watchers(), 0u);  // unwatched at stop
}

TEST_F(StoreAckTest, AWriteWithoutAnEntryWaitsForTheOnesBeforeIt) {
  auto store = Open();
  ASSERT_TRUE(store);
  Acks acks;
  store->SubmitWrite(Insert("a"), acks.Done("a"));
  ASSERT_TRUE(WaitEntries(1));
  // A failing write (its answer could tell of "a": a duplicate) and a write
  // that changes nothing make no entry; neither is answered before "a".
  store->SubmitWrite(Insert("a"), acks.Done("dup"));
  store->SubmitWrite([](Connection&) { return OkStatus(); }, acks.Done("noop"));
  EXPECT_FALSE(acks.WaitFor(1, 150ms));
  EXPECT_EQ(sink_.entries(), 1);
  sink_.ReleaseAll();
  ASSERT_TRUE(acks.WaitFor(3, 2s));
  EXPECT_EQ(acks.order, (std::vector<std::string>{"a", "dup", "noop"}));
  EXPECT_TRUE(acks.status.at("a").ok());
  EXPECT_FALSE(acks.status.at("dup").ok());
  EXPECT_TRUE(acks.status.at("noop").ok());
  // Once everything is released, a write is acknowledged at once.
  store->SubmitWrite([](Connection&) { return OkStatus(); }, acks.Done("later"));
  ASSERT_TRUE(acks.WaitFor(4, 2s));
}

TEST_F(StoreAckTest, AtMostSixteenBatchesWaitThenTheWriterWaitsForTheSink) {
  auto store = Open();
  ASSERT_TRUE(store);
  Acks acks;
  // One write at a time, so each is a batch of its own.
  for (int i = 0; i < 16; ++i) {
    store->SubmitWrite(Insert("k" + std::to_string(i)), acks.Done(std::to_string(i)));
    ASSERT_TRUE(WaitEntries(i + 1)) << i;
  }
  // Sixteen wait: the writer waits for the oldest before the 17th commits.
  store->SubmitWrite(Insert("k16"), acks.Done("16"));
  std::this_thread::sleep_for(150ms);
  EXPECT_EQ(sink_.entries(), 16);
  EXPECT_GE(sink_.awaits(), 1);
  EXPECT_EQ(acks.Count(), 0u);
  sink_.ReleaseAll();
  ASSERT_TRUE(WaitEntries(17));
  sink_.ReleaseAll();
  ASSERT_TRUE(acks.WaitFor(17, 2s));
  for (int i = 0; i < 17; ++i) EXPECT_EQ(acks.order[i], std::to_string(i));
  EXPECT_EQ(Rows(*store), 17);
}

// A sink with no wake-up: the writer waits for it itself, so a write with
// none after it is acknowledged once released, not at the stall.
TEST_F(StoreAckTest, ASinkThatCannotWakeTheWriterIsWaitedFor) {
  sink_.watchable = false;
  auto store = Open(20s);
  ASSERT_TRUE(store);
  Acks acks;
  store->SubmitWrite(Insert("a"), acks.Done("a"));
  ASSERT_TRUE(WaitEntries(1));
  EXPECT_FALSE(acks.WaitFor(1, 100ms));
  sink_.ReleaseAll();
  ASSERT_TRUE(acks.WaitFor(1, 3s));
  EXPECT_TRUE(acks.status.at("a").ok());
}

TEST_F(StoreAckTest, ASinkThatNeverAnswersDelaysAWriteByTheStallAtMost) {
  auto store = Open(300ms);
  ASSERT_TRUE(store);
  Acks acks;
  auto t0 = std::chrono::steady_clock::now();
  store->SubmitWrite(Insert("a"), acks.Done("a"));
  ASSERT_TRUE(acks.WaitFor(1, 3s));
  auto waited = std::chrono::steady_clock::now() - t0;
  EXPECT_GE(waited, 300ms);
  EXPECT_TRUE(acks.status.at("a").ok());  // committed: acknowledged as written
}

TEST_F(StoreAckTest, StoppingAcknowledgesWhatWasCommitted) {
  auto store = Open(400ms);
  ASSERT_TRUE(store);
  Acks acks;
  store->SubmitWrite(Insert("a"), acks.Done("a"));
  store->SubmitWrite(Insert("b"), acks.Done("b"));
  ASSERT_TRUE(WaitEntries(1));
  auto t0 = std::chrono::steady_clock::now();
  store->StopWrites();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);
  EXPECT_EQ(acks.Count(), 2u);
  EXPECT_TRUE(acks.status.at("a").ok());
  EXPECT_TRUE(acks.status.at("b").ok());
  // A write after the stop fails at once.
  store->SubmitWrite(Insert("c"), acks.Done("c"));
  ASSERT_EQ(acks.Count(), 3u);
  EXPECT_FALSE(acks.status.at("c").ok());
}

}  // namespace
}  // namespace hearth::store
