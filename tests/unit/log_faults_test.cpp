// The local log under faults (issue 18's review): a new generation whose
// first entry is taken back, a syncer racing a cut, a Break between
// Generation() and Append, the last entry before its check, a missing
// database, a failed sync, a torn file before the newest, zeros and damaged
// headers, holes for readers, files that are not regular, a throwing
// reader, and indexes going back across generations.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <future>
#include <iterator>
#include <stdexcept>

#include "log_test_util.h"

namespace hearth::stream {
namespace {

using namespace log_test;

// A new generation whose first entry is taken back (its COMMIT failed) after
// the syncer recorded it: a restart must not continue the old generation
// after the missing batch, whether or not `broken` is still there.
TEST_F(LogTest, ANewGenerationWhoseFirstEntryIsTakenBackIsNotForgotten) {
  for (bool remove_marker : {false, true}) {
    SCOPED_TRACE(remove_marker);
    fs::remove_all(dir_);
    auto log = OpenLog();
    ASSERT_TRUE(log);
    AppendRange(log.get(), 1, 2);
    log->MarkCommitted(log->end());
    uint64_t old_gen = log->generation();
    log->Break("entry 3 was not kept");
    auto off = log->Append(MakeEntry(4));
    ASSERT_TRUE(off.ok());
    uint64_t new_gen = log->generation();
    EXPECT_NE(new_gen, old_gen);
    ASSERT_TRUE(log->WaitDurable(log->end(), 5s));  // the syncer recorded new_gen
    std::this_thread::sleep_for(200ms);  // time to remove `broken`, were it to (it must not)
    EXPECT_TRUE(fs::exists(dir_ + "/broken"));
    log->TruncateTo(*off);  // entry 4's COMMIT failed
    log.reset();
    if (remove_marker) fs::remove(dir_ + "/broken");
    log = OpenLog();
    ASSERT_TRUE(log);
    EXPECT_FALSE(log->recovery().new_generation_why.empty());
    ASSERT_TRUE(log->Append(MakeEntry(4)).ok());
    EXPECT_NE(log->generation(), old_gen);
  }
}

// A cut and an append of the same length while the syncer syncs leave the
// tail where the syncer took it: the entry is still synced.
TEST_F(LogTest, ACutAndAnEqualAppendDuringASyncAreSynced) {
  SyncGate gate;
  auto log = OpenLog(uint64_t{64} << 20, &gate);
  ASSERT_TRUE(log);
  AppendRange(log.get(), 1, 2);
  ASSERT_TRUE(log->WaitDurable(log->end(), 5s));
  {
    std::lock_guard lk(gate.m);
    gate.hold = true;
  }
  auto off = log->Append(MakeEntry(3));
  ASSERT_TRUE(off.ok());
  uint64_t end = log->end();
  ASSERT_TRUE(gate.WaitHeld());  // the syncer took end as its target
  log->TruncateTo(*off);
  ASSERT_TRUE(log->Append(MakeEntry(3, "apps/a.db")).ok());
  ASSERT_EQ(log->end(), end);
  gate.Release();
  EXPECT_TRUE(log->WaitDurable(end, 3s)) << log->durable();
  log.reset();
}

// An entry whose writer read Generation() before a Break from another
// thread goes into the generation it is stamped with; the new one starts at
// the next Generation().
TEST_F(LogTest, AnEntryStampedWithTheCurrentGenerationStaysInIt) {
  auto log = OpenLog();
  ASSERT_TRUE(log);
  uint64_t a = log->Generation();
  ASSERT_TRUE(log->Append(MakeEntry(1, "hearth.db", 40, a)).ok());
  uint64_t stamped = log->Generation();
  EXPECT_EQ(stamped, a);
  log->Break("another database's entry was not kept");
  ASSERT_TRUE(log->Append(MakeEntry(2, "hearth.db", 40, stamped)).ok());
  EXPECT_EQ(log->generation(), a);
  EXPECT_EQ(WalFiles().size(), 1u);
  uint64_t b = log->Generation();
  EXPECT_NE(b, a);
  ASSERT_TRUE(log->Append(MakeEntry(3, "hearth.db", 40, b)).ok());
  EXPECT_EQ(WalFiles().size(), 2u);
  int seen = 0;
  ASSERT_TRUE(log->ForEach(0, UINT64_MAX,
                           [&](const LogEntry& e) {
                             ++seen;
                             EXPECT_EQ(e.view.generation, e.generation) << e.view.index;
                             return true;
                           })
                  .ok());
  EXPECT_EQ(seen, 3);
}

// At open the last entry's COMMIT is not known to have happened: readers do
// not see it until DropUncommittedTail has checked it.
TEST_F(LogTest, TheLastEntryIsReadableOnlyOnceChecked) {
  auto log = OpenLog();
  ASSERT_TRUE(log);
  AppendRange(log.get(), 1, 3);
  log.reset();
  log = OpenLog();
  ASSERT_TRUE(log);
  EXPECT_EQ(Indexes(*log, 0, log->readable()), Seq(1, 2));
  auto check = log->DropUncommittedTail({{"hearth.db", 3}});
  ASSERT_TRUE(check.ok());
  EXPECT_FALSE(check->dropped);
  EXPECT_EQ(Indexes(*log, 0, log->readable()), Seq(1, 3));
}

// A database the map does not name says nothing about the entry: no cut,
// but the log is out of step, so a new generation.
TEST_F(LogTest, AMissingDatabaseIsNotACut) {
  auto log = OpenLog();
  ASSERT_TRUE(log);
  AppendRange(log.get(), 1, 1, "hearth.db");
  AppendRange(log.get(), 2, 2, "apps/a.db");
  uint64_t end = log->end();
  log.reset();
  log = OpenLog();
  ASSERT_TRUE(log);
  auto check = log->DropUncommittedTail({{"hearth.db", 1}});
  ASSERT_TRUE(check.ok());
  EXPECT_FALSE(check->dropped);
  EXPECT_TRUE(check->new_generation);
  EXPECT_NE(check->why.find("apps/a.db"), std::string::npos) << check->why;
  EXPECT_EQ(log->end(), end);
  EXPECT_EQ(log->last_index(), 2u);
}

// A failed fdatasync: what it covered is never durable (nor read), a restart
// starts anew (`broken`), and the next generation is durable again.
TEST_F(LogTest, AFailedSyncIsNeverDurable) {
  SyncGate gate;
  auto log = OpenLog(uint64_t{64} << 20, &gate);
  ASSERT_TRUE(log);
  AppendRange(log.get(), 1, 2);  // not marked committed yet, so the syncer stays idle
  ASSERT_TRUE(log->WaitDurable(log->end(), 5s));
  uint64_t gen = log->generation();
  {
    std::lock_guard lk(gate.m);
    gate.fail = "injected: EIO";
  }
  ASSERT_TRUE(log->Append(MakeEntry(3)).ok());
  uint64_t end3 = log->end();
  log->MarkCommitted(end3);
  ASSERT_TRUE(Eventually([&] { return log->broken(); }));
  EXPECT_TRUE(fs::exists(dir_ + "/broken"));
  EXPECT_FALSE(log->WaitDurable(end3, 300ms));
  ASSERT_TRUE(log->Append(MakeEntry(4)).ok());
  EXPECT_NE(log->generation(), gen);
  log->MarkCommitted(log->end());
  EXPECT_TRUE(log->WaitDurable(log->end(), 5s));
  EXPECT_EQ(Indexes(*log, 0, log->readable()), (std::vector<uint64_t>{1, 2, 4}));
  log.reset();
}

// A power loss can tear the file before the newest while the newest is
// whole: the generation has a hole, so a new one starts.
TEST_F(LogTest, ATornFileBeforeTheNewestStartsANewGeneration) {
  uint64_t size = MakeEntry(1).size();
  auto log = OpenLog(kSegmentHeaderSize + 3 * size);  // files start at 1, 4
  ASSERT_TRUE(log);
  AppendRange(log.get(), 1, 6);
  uint64_t gen = log->generation();
  log.reset();
  ASSERT_EQ(WalFiles().size(), 2u);
  fs::resize_file(WalFiles()[0], kSegmentHeaderSize + 3 * size - 8);
  log = OpenLog(kSegmentHeaderSize + 3 * size);
  ASSERT_TRUE(log);
  EXPECT_FALSE(log->recovery().new_generation_why.empty());
  ASSERT_TRUE(log->Append(MakeEntry(7)).ok());
  EXPECT_NE(log->generation(), gen);
}

// Valid entries after zeros mean damage in the middle, not a torn tail.
TEST_F(LogTest, EntriesAfterZerosAreDamageNotATornTail) {
  auto log = OpenLog();
  ASSERT_TRUE(log);
  auto offsets = AppendRange(log.get(), 1, 3);
  log.reset();
  std::string file = WalFiles()[0];
  auto size_before = fs::file_size(file);
  {
    std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(kSegmentHeaderSize + offsets[1]));
    std::string zeros(MakeEntry(2).size(), '\0');
    f.write(zeros.data(), static_cast<std::streamsize>(zeros.size()));
  }
  log = OpenLog();
  ASSERT_TRUE(log);
  EXPECT_NE(log->recovery().new_generation_why.find("damaged"), std::string::npos)
      << log->recovery().new_generation_why;
  EXPECT_EQ(log->recovery().cut_bytes, 0u);
  EXPECT_EQ(fs::file_size(file), size_before);
}

// A header whose CRC fails in the last entry, with nothing decodable after
// it, is what a torn write leaves: cut, same generation.
TEST_F(LogTest, ADamagedLastHeaderIsATornTail) {
  auto log = OpenLog();
  ASSERT_TRUE(log);
  auto offsets = AppendRange(log.get(), 1, 3);
  uint64_t gen = log->generation();
  log.reset();
  std::string file = WalFiles()[0];
  {
    std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(kSegmentHeaderSize + offsets[2] + 20));
    f.put('\x55');
  }
  log = OpenLog();
  ASSERT_TRUE(log);
  EXPECT_TRUE(log->recovery().new_generation_why.empty()) << log->recovery().new_generation_why;
  EXPECT_EQ(log->recovery().cut_bytes, MakeEntry(3).size());
  EXPECT_EQ(log->last_index(), 2u);
  EXPECT_EQ(log->generation(), gen);
}

// Readers never skip a hole: each check on its own (the unreadable file is
// the newest, so no base gap shows it; the missing file is followed by
// another generation's, so no index gap shows it).
TEST_F(LogTest, ReadersRefuseAHole) {
  uint64_t size = MakeEntry(1).size();
  auto walk = [&] {
    return ForEachEntry(dir_ + "/wal", 0, UINT64_MAX, [](const LogEntry&) { return true; });
  };
  for (bool remove : {false, true}) {
    SCOPED_TRACE(remove);
    fs::remove_all(dir_);
    auto log = OpenLog(kSegmentHeaderSize + 3 * size);  // A: files 1, 4; B: file 7
    ASSERT_TRUE(log);
    AppendRange(log.get(), 1, 6);
    log->Break("test");
    AppendRange(log.get(), 7, 8);
    log.reset();
    ASSERT_EQ(WalFiles().size(), 3u);
    ASSERT_TRUE(walk().ok());
    if (remove) {
      fs::remove(WalFiles()[1]);  // A's 4-6, before B's 7
    } else {
      std::fstream f(WalFiles()[2], std::ios::in | std::ios::out | std::ios::binary);
      f.seekp(20);
      f.put('\x55');  // the newest file's header CRC fails
    }
    Status st = walk();
    EXPECT_FALSE(st.ok());
  }
}

// Indexes within a generation run on by one, within a file and across files
// whose bases meet (files written here byte by byte).
TEST_F(LogTest, ReadersRefuseAnIndexGap) {
  std::string e1 = MakeEntry(1), e2 = MakeEntry(2), e3 = MakeEntry(3), e4 = MakeEntry(4);
  for (bool across : {false, true}) {
    SCOPED_TRACE(across);
    fs::remove_all(dir_);
    fs::create_directories(dir_ + "/wal");
    auto write = [&](uint64_t first, uint64_t base, const std::string& bytes) {
      std::ofstream(dir_ + "/wal/" + SegmentName(first), std::ios::binary)
          << EncodeSegmentHeader({7, first, base, 0}) << bytes;
    };
    if (across) {
      write(1, 0, e1 + e2);
      write(4, e1.size() + e2.size(), e4);  // 3 is missing
    } else {
      write(1, 0, e1 + e3);  // 2 is missing
    }
    Status st = ForEachEntry(dir_ + "/wal", 0, UINT64_MAX, [](const LogEntry&) { return true; });
    EXPECT_FALSE(st.ok());
  }
}

// Break writes its marker outside the lock the writers append under: a slow
// disk there does not hold up every commit.
TEST_F(LogTest, BreakDoesNotHoldUpAppends) {
  auto log = OpenLog();
  ASSERT_TRUE(log);
  AppendRange(log.get(), 1, 1);
  std::string tmp = dir_ + "/broken.tmp";
  ASSERT_EQ(mkfifo(tmp.c_str(), 0600), 0);  // opening it to write blocks until read
  std::thread breaker([&] { log->Break("slow disk"); });
  std::this_thread::sleep_for(100ms);  // Break is now inside its write
  auto appended = std::async(std::launch::async, [&] { return log->Append(MakeEntry(2)).ok(); });
  bool in_time = appended.wait_for(2s) == std::future_status::ready;
  int reader = open(tmp.c_str(), O_RDONLY | O_NONBLOCK);  // lets Break go on
  breaker.join();
  if (reader >= 0) close(reader);
  EXPECT_TRUE(in_time);
  EXPECT_TRUE(appended.get());
}

// A FIFO or a folder named like a segment is neither opened as one nor
// waited on (a FIFO's open would block).
TEST_F(LogTest, ASegmentThatIsNotARegularFileIsNotOpened) {
  auto log = OpenLog();
  ASSERT_TRUE(log);
  AppendRange(log.get(), 1, 2);
  log.reset();
  std::string fifo = dir_ + "/wal/" + SegmentName(9);
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  fs::create_directory(dir_ + "/wal/" + SegmentName(10));
  auto opened = std::async(std::launch::async, [&] { return LocalLog::Open(dir_, {}); });
  if (opened.wait_for(5s) != std::future_status::ready) {
    int fd = open(fifo.c_str(), O_WRONLY | O_NONBLOCK);  // lets a blocked open go on
    if (fd >= 0) close(fd);
    ADD_FAILURE() << "Open blocked on a FIFO";
  }
  auto again = opened.get();
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ((*again)->last_index(), 2u);
  Status st = ForEachEntry(dir_ + "/wal", 0, UINT64_MAX, [](const LogEntry&) { return true; });
  EXPECT_FALSE(st.ok());  // not silently skipped either
}

// A reader's callback that throws leaves no file open.
TEST_F(LogTest, AThrowingReaderLeavesNoFileOpen) {
  auto log = OpenLog();
  ASSERT_TRUE(log);
  AppendRange(log.get(), 1, 2);
  auto open_fds = [] {
    return std::distance(fs::directory_iterator("/proc/self/fd"), fs::directory_iterator{});
  };
  // The syncer opens files of its own (the generation record, the folder it
  // syncs): counted only once it is done, and compared until it is again.
  ASSERT_TRUE(log->WaitDurable(log->end(), 5s));
  std::this_thread::sleep_for(50ms);
  auto before = open_fds();
  for (int i = 0; i < 5; ++i)
    EXPECT_THROW((void)log->ForEach(0, UINT64_MAX,
                                    [](const LogEntry&) -> bool { throw std::runtime_error("x"); }),
                 std::runtime_error);
  // A leak stays: five throws would leave five more for good.
  EXPECT_TRUE(Eventually([&] { return open_fds() <= before; })) << open_fds() << " > " << before;
}

// Indexes go back in a new generation (a restored folder): retention and
// readers compare indexes within one generation only.
TEST_F(LogTest, DropThroughAndFromIndexAcrossGenerations) {
  uint64_t size = MakeEntry(1).size();
  auto log = OpenLog(kSegmentHeaderSize + 3 * size);
  ASSERT_TRUE(log);
  AppendRange(log.get(), 1, 6);  // A: files 1 (1-3), 4 (4-6)
  log->Break("restored from an older backup");
  AppendRange(log.get(), 2, 5);  // B: files 2 (2-4), 5 (5)
  ASSERT_EQ(WalFiles().size(), 4u);
  EXPECT_EQ(Indexes(*log, 5), (std::vector<uint64_t>{5, 6, 5}));
  auto dropped = log->DropThrough(3);  // A's 1-3 only: A's 4-6 are not all at or below 3
  ASSERT_TRUE(dropped.ok()) << dropped.error().message;
  EXPECT_EQ(*dropped, 1);
  EXPECT_EQ(Indexes(*log), (std::vector<uint64_t>{4, 5, 6, 2, 3, 4, 5}));
  dropped = log->DropThrough(6);
  ASSERT_TRUE(dropped.ok());
  EXPECT_EQ(*dropped, 2);  // A's 4-6 and B's 2-4; B's 5 is the current file
  EXPECT_EQ(Indexes(*log), (std::vector<uint64_t>{5}));
}

}  // namespace
}  // namespace hearth::stream
