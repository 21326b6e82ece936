// The local log's syncer pacing (LogOptions::sync_every) and what a Store
// writing through the local log acknowledges: at COMMIT, never waiting for
// the syncer (EntrySink::Acknowledgeable), the entry already written.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <string>
#include <thread>

#include "log_test_util.h"
#include "store/sequencer.h"
#include "store/store.h"
#include "stream/log.h"

namespace hearth::stream {
namespace {

using namespace log_test;

std::unique_ptr<LocalLog> OpenPaced(const std::string& dir, std::chrono::milliseconds every,
                                    std::atomic<int>* passes) {
  LogOptions o;
  o.sync_every = every;
  o.sync_hook = [passes] {
    passes->fetch_add(1);
    return std::string();
  };
  auto log = LocalLog::Open(dir, o);
  EXPECT_TRUE(log.ok()) << (log.ok() ? "" : log.error().message);
  return log.ok() ? std::move(log).value() : nullptr;
}

// Appends a moment apart share a pass: one fdatasync per interval, not one
// per append.
TEST_F(LogTest, AppendsWithinTheIntervalShareOneSync) {
  std::atomic<int> passes{0};
  auto log = OpenPaced(dir_, 400ms, &passes);
  ASSERT_TRUE(log);
  AppendRange(log.get(), 1, 1);
  ASSERT_TRUE(log->WaitDurable(log->end(), 5s));  // after a quiet spell: at once
  int before = passes.load();
  for (uint64_t i = 2; i <= 11; ++i) {
    AppendRange(log.get(), i, i);
    std::this_thread::sleep_for(5ms);
  }
  ASSERT_TRUE(log->WaitDurable(log->end(), 5s));
  EXPECT_LE(passes.load() - before, 2);
  EXPECT_EQ(Indexes(*log).size(), 11u);
}

// A stop never waits out the interval, and still syncs what is appended.
TEST_F(LogTest, AStopDoesNotWaitForTheInterval) {
  std::atomic<int> passes{0};
  auto log = OpenPaced(dir_, 30s, &passes);
  ASSERT_TRUE(log);
  AppendRange(log.get(), 1, 1);
  ASSERT_TRUE(log->WaitDurable(log->end(), 5s));
  AppendRange(log.get(), 2, 2);
  int before = passes.load();
  auto t0 = std::chrono::steady_clock::now();
  log.reset();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);
  EXPECT_EQ(passes.load(), before + 1);  // the last pass
  auto again = OpenLog();
  ASSERT_TRUE(again);
  EXPECT_EQ(Indexes(*again), Seq(1, 2));
}

// A write through the local log is acknowledged while the syncer is held:
// its entry was written before COMMIT (it survives kill -9); the fsync follows.
TEST_F(LogTest, AStoreWriteDoesNotWaitForTheSyncer) {
  SyncGate gate;
  auto log = OpenLog(uint64_t{64} << 20, &gate);
  ASSERT_TRUE(log);
  store::Sequencer sequencer(1, 0);
  auto stream = std::make_shared<store::StreamContext>();
  stream->sequencer = &sequencer;
  stream->sink = log.get();
  stream->node_id = 3;
  store::Store::Options o;
  o.path = root_ + "/app.db";
  o.migrations = {{1, "CREATE TABLE items (id TEXT PRIMARY KEY NOT NULL)"}};
  o.name = "apps/app.db";
  o.stream = stream;
  auto s = store::Store::Open(std::move(o));
  ASSERT_TRUE(s.ok()) << s.error().message;
  auto store = std::move(s).value();
  const uint64_t before = log->last_index();  // the migration's entry
  {
    std::lock_guard lk(gate.m);
    gate.hold = true;
  }
  auto first = std::async(std::launch::async, [&] {
    return store->Write(
        [](store::Connection& c) { return c.Exec("INSERT INTO items (id) VALUES ('a')"); });
  });
  ASSERT_TRUE(gate.WaitHeld());  // the syncer sits in the pass for entry 1
  ASSERT_EQ(first.wait_for(5s), std::future_status::ready);
  EXPECT_TRUE(first.get().ok());
  // And the next write too, with the pass still held.
  Status second = store->Write(
      [](store::Connection& c) { return c.Exec("INSERT INTO items (id) VALUES ('b')"); });
  EXPECT_TRUE(second.ok());
  EXPECT_LT(log->durable(), log->end());  // not synced yet: acknowledged all the same
  EXPECT_EQ(log->last_index(), before + 2);
  gate.Release();
  EXPECT_TRUE(log->WaitDurable(log->end(), 5s));
  store.reset();
}

// Writes are acknowledged before the fsync, and each database syncs its own
// WAL: a power loss can take one database's last commit while another's,
// later in the log, stays. Every database is checked, not only the last
// entry's.
TEST_F(LogTest, ADatabaseThatLostAnEarlierEntryNeedsANewGeneration) {
  auto log = OpenLog();
  ASSERT_TRUE(log);
  AppendRange(log.get(), 1, 1, "hearth.db");
  AppendRange(log.get(), 2, 2, "apps/a.db");
  AppendRange(log.get(), 3, 3, "hearth.db");
  log.reset();
  log = OpenLog();
  ASSERT_TRUE(log);
  auto check = log->DropUncommittedTail({{"hearth.db", 3}, {"apps/a.db", 0}});
  ASSERT_TRUE(check.ok());
  EXPECT_FALSE(check->dropped);
  EXPECT_TRUE(check->new_generation);
  EXPECT_NE(check->why.find("apps/a.db does not hold index 2"), std::string::npos) << check->why;
}

std::unique_ptr<LocalLog> OpenOnBoot(const std::string& dir, const std::string& boot) {
  LogOptions o;
  o.segment_bytes = 1;  // one entry per file
  o.boot_id = boot;
  auto log = LocalLog::Open(dir, o);
  EXPECT_TRUE(log.ok()) << (log.ok() ? "" : log.error().message);
  return log.ok() ? std::move(log).value() : nullptr;
}

// After a reboot, the entry a database lacks can be in a file before the
// newest (the log rolled, later entries are another database's): older
// files are read too. Within one boot (a kill -9) they are not: the page
// cache kept the databases' commits as it kept the log.
TEST_F(LogTest, ADatabaseThatLostAnEntryInAnOlderFileNeedsANewGeneration) {
  auto log = OpenOnBoot(dir_, "boot-a");
  ASSERT_TRUE(log);
  AppendRange(log.get(), 1, 1, "apps/a.db");
  AppendRange(log.get(), 2, 3, "hearth.db");
  ASSERT_GE(WalFiles().size(), 3u);
  log.reset();
  log = OpenOnBoot(dir_, "boot-b");
  ASSERT_TRUE(log);
  auto fine = log->DropUncommittedTail({{"hearth.db", 3}, {"apps/a.db", 1}});
  ASSERT_TRUE(fine.ok());
  EXPECT_FALSE(fine->new_generation) << fine->why;
  log.reset();
  log = OpenOnBoot(dir_, "boot-c");
  ASSERT_TRUE(log);
  auto check = log->DropUncommittedTail({{"hearth.db", 3}, {"apps/a.db", 0}});
  ASSERT_TRUE(check.ok());
  EXPECT_TRUE(check->new_generation);
  EXPECT_NE(check->why.find("apps/a.db does not hold index 1"), std::string::npos) << check->why;
  log.reset();
  log = OpenOnBoot(dir_, "boot-c");  // the same boot: not read
  ASSERT_TRUE(log);
  auto same = log->DropUncommittedTail({{"hearth.db", 3}, {"apps/a.db", 0}});
  ASSERT_TRUE(same.ok());
  EXPECT_FALSE(same->new_generation) << same->why;
}

// A database whose only entry in the newest file is the dropped last one is
// checked against the older files too.
TEST_F(LogTest, ADatabaseWhoseNewestEntryIsDroppedIsCheckedInOlderFiles) {
  auto log = OpenOnBoot(dir_, "boot-a");
  ASSERT_TRUE(log);
  AppendRange(log.get(), 1, 1, "apps/a.db");
  AppendRange(log.get(), 2, 2, "hearth.db");
  AppendRange(log.get(), 3, 3, "apps/a.db");  // never committed
  log.reset();
  log = OpenOnBoot(dir_, "boot-b");
  ASSERT_TRUE(log);
  auto check = log->DropUncommittedTail({{"hearth.db", 2}, {"apps/a.db", 0}});
  ASSERT_TRUE(check.ok());
  EXPECT_TRUE(check->dropped);
  EXPECT_TRUE(check->new_generation);
  EXPECT_NE(check->why.find("apps/a.db does not hold index 1"), std::string::npos) << check->why;
}

// A failed cut, then a restart before any other append: the entry is cut at
// start this time, and the skipped range never hides what is appended there.
TEST_F(LogTest, ASkippedRangeNeverHidesEntriesWrittenWhereItWas) {
  bool fail = false;
  LogOptions o;
  o.cut_fails = [&fail] { return fail; };
  auto opened = LocalLog::Open(dir_, o);
  ASSERT_TRUE(opened.ok()) << opened.error().message;
  auto log = std::move(opened).value();
  AppendRange(log.get(), 1, 1);
  log->MarkCommitted(log->end());
  auto off = log->Append(MakeEntry(2, "apps/a.db"));
  ASSERT_TRUE(off.ok());
  fail = true;
  log->TruncateTo(*off);
  fail = false;
  ASSERT_TRUE(log->WaitDurable(log->end(), 5s));
  log.reset();
  log = OpenLog();
  ASSERT_TRUE(log);
  auto check = log->DropUncommittedTail({{"hearth.db", 1}, {"apps/a.db", 0}});
  ASSERT_TRUE(check.ok());
  EXPECT_TRUE(check->dropped);
  EXPECT_EQ(log->end(), *off);
  AppendRange(log.get(), 2, 3);
  log->MarkCommitted(log->end());
  ASSERT_TRUE(log->WaitDurable(log->end(), 5s));
  EXPECT_EQ(Indexes(*log, 0, log->readable()), Seq(1, 3));
  log.reset();
  log = OpenLog();  // and after another restart
  ASSERT_TRUE(log);
  ASSERT_TRUE(log->DropUncommittedTail({{"hearth.db", 3}, {"apps/a.db", 0}}).ok());
  EXPECT_EQ(Indexes(*log, 0, log->readable()), Seq(1, 3));
}

// The last entry dropped, its database's entry before it is what it must hold.
TEST_F(LogTest, AfterADropTheDatabasesPreviousEntryIsChecked) {
  auto log = OpenLog();
  ASSERT_TRUE(log);
  AppendRange(log.get(), 1, 2, "apps/a.db");
  log.reset();
  log = OpenLog();
  ASSERT_TRUE(log);
  auto check = log->DropUncommittedTail({{"apps/a.db", 1}});
  ASSERT_TRUE(check.ok());
  EXPECT_TRUE(check->dropped);
  EXPECT_FALSE(check->new_generation) << check->why;
}

TEST_F(LogTest, ADatabaseLackingTheEntryBeforeADroppedOneNeedsANewGeneration) {
  auto log = OpenLog();
  ASSERT_TRUE(log);
  AppendRange(log.get(), 1, 2, "apps/a.db");
  log.reset();
  log = OpenLog();
  ASSERT_TRUE(log);
  auto check = log->DropUncommittedTail({{"apps/a.db", 0}});
  ASSERT_TRUE(check.ok());
  EXPECT_TRUE(check->dropped);
  EXPECT_TRUE(check->new_generation);
  EXPECT_NE(check->why.find("apps/a.db does not hold index 1"), std::string::npos) << check->why;
}

// An uncommitted entry whose cut fails (an I/O error) stays in its file; a
// later entry's commit must not make it readable: it is never shipped.
TEST_F(LogTest, AnEntryThatCouldNotBeCutIsNeverRead) {
  bool fail = false;
  LogOptions o;
  o.cut_fails = [&fail] { return fail; };
  auto opened = LocalLog::Open(dir_, o);
  ASSERT_TRUE(opened.ok()) << opened.error().message;
  auto log = std::move(opened).value();
  AppendRange(log.get(), 1, 1);
  log->MarkCommitted(log->end());
  auto off = log->Append(MakeEntry(2, "apps/a.db"));
  ASSERT_TRUE(off.ok());
  const uint64_t gen = log->generation();
  fail = true;
  log->TruncateTo(*off);  // its COMMIT failed; the cut fails too
  fail = false;
  EXPECT_EQ(log->last_index(), 1u);  // the entry is not the last one any more
  EXPECT_TRUE(log->broken());        // a break: no snapshot of the old generation
  // The number is handed out again, in a new generation.
  ASSERT_TRUE(log->Append(MakeEntry(2, "hearth.db")).ok());
  EXPECT_NE(log->generation(), gen);
  log->MarkCommitted(log->end());
  ASSERT_TRUE(log->WaitDurable(log->end(), 5s));
  std::vector<std::string> seen;
  Status st = log->ForEach(0, log->readable(), [&](const LogEntry& e) {
    seen.push_back(std::to_string(e.view.index) + " " + std::string(e.view.database));
    return true;
  });
  ASSERT_TRUE(st.ok()) << st.error().message;
  EXPECT_EQ(seen, (std::vector<std::string>{"1 hearth.db", "2 hearth.db"}));
  // Still never read after a restart: the entry is in its file, the range on disk.
  log.reset();
  log = OpenLog();
  ASSERT_TRUE(log);
  auto check = log->DropUncommittedTail({{"hearth.db", 2}, {"apps/a.db", 0}});
  ASSERT_TRUE(check.ok());
  EXPECT_FALSE(check->dropped);
  seen.clear();
  st = log->ForEach(0, log->readable(), [&](const LogEntry& e) {
    seen.push_back(std::to_string(e.view.index) + " " + std::string(e.view.database));
    return true;
  });
  ASSERT_TRUE(st.ok()) << st.error().message;
  EXPECT_EQ(seen, (std::vector<std::string>{"1 hearth.db", "2 hearth.db"}));
}

}  // namespace
}  // namespace hearth::stream
