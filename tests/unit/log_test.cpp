#include "stream/log.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/crc32c.h"
#include "base/log.h"
#include "log_test_util.h"
#include "store/store.h"

namespace hearth::stream {
namespace {

using namespace log_test;

TEST_F(LogTest, AppendsAndReadsBackAcrossARoll) {
  auto log = OpenLog(1024);
  ASSERT_TRUE(log);
  auto offsets = AppendRange(log.get(), 1, 20);
  uint64_t size = MakeEntry(1).size();
  for (size_t i = 0; i < offsets.size(); ++i) EXPECT_EQ(offsets[i], i * size) << i;
  EXPECT_EQ(log->end(), 20 * size);
  EXPECT_GT(WalFiles().size(), 2u);  // rolled at 1 KiB
  EXPECT_EQ(fs::path(WalFiles()[0]).filename(), "0000000000000001.hlog");

  log->MarkCommitted(log->end());
  ASSERT_TRUE(log->WaitDurable(log->end(), 5s));
  EXPECT_EQ(log->readable(), log->end());
  std::vector<uint64_t> seen_offsets;
  ASSERT_TRUE(log->ForEach(0, log->readable(),
                           [&](const LogEntry& e) {
                             seen_offsets.push_back(e.offset);
                             EXPECT_EQ(e.view.database, "hearth.db");
                             EXPECT_EQ(e.generation, log->generation());
                             return true;
                           })
                  .ok());
  EXPECT_EQ(seen_offsets, offsets);
  EXPECT_EQ(Indexes(*log, 7), Seq(7, 20));
  EXPECT_EQ(Indexes(*log, 0, offsets[9]), Seq(1, 9));  // entry 10 ends past the bound
  EXPECT_EQ(log->last_index(), 20u);
  EXPECT_EQ(log->last_time_us(), 20000);
}

TEST_F(LogTest, ReadersSeeOnlyCommittedAndDurable) {
  auto log = OpenLog();
  ASSERT_TRUE(log);
  AppendRange(log.get(), 1, 3);
  ASSERT_TRUE(log->WaitDurable(log->end(), 5s));
  EXPECT_GE(log->durable(), log->end());
  EXPECT_EQ(log->readable(), 0u);  // nothing marked committed yet
  EXPECT_TRUE(Indexes(*log, 0, log->readable()).empty());
  uint64_t end2 = 2 * MakeEntry(1).size();
  log->MarkCommitted(end2);
  EXPECT_EQ(Indexes(*log, 0, log->readable()), Seq(1, 2));
}

TEST_F(LogTest, TruncateToCutsTheLastEntry) {
  auto log = OpenLog();
  ASSERT_TRUE(log);
  auto offsets = AppendRange(log.get(), 1, 3);
  log->TruncateTo(offsets[2]);  // entry 3's COMMIT failed
  EXPECT_EQ(log->end(), offsets[2]);
  EXPECT_EQ(log->last_index(), 2u);
  EXPECT_EQ(Indexes(*log), Seq(1, 2));
  auto again = log->Append(MakeEntry(3, "apps/a.db"));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, offsets[2]);
  log.reset();
  log = OpenLog();
  EXPECT_EQ(log->last_index(), 3u);
  EXPECT_EQ(Indexes(*log), Seq(1, 3));
}

// The only entry of a freshly rolled file is cut: the file goes with it and
// the next append makes it again.
TEST_F(LogTest, TruncateOfAFilesOnlyEntryRemovesTheFile) {
  uint64_t size = MakeEntry(1).size();
  auto log = OpenLog(kSegmentHeaderSize + 2 * size);
  ASSERT_TRUE(log);
  auto offsets = AppendRange(log.get(), 1, 3);
  EXPECT_EQ(WalFiles().size(), 2u);
  log->TruncateTo(offsets[2]);
  EXPECT_EQ(WalFiles().size(), 1u);
  EXPECT_EQ(log->last_index(), 2u);
  ASSERT_TRUE(log->Append(MakeEntry(3)).ok());
  EXPECT_EQ(WalFiles().size(), 2u);
  EXPECT_EQ(Indexes(*log), Seq(1, 3));
}

TEST_F(LogTest, ReopenContinues) {
  auto log = OpenLog();
  ASSERT_TRUE(log);
  AppendRange(log.get(), 1, 5);
  uint64_t end = log->end(), gen = log->generation();
  EXPECT_NE(gen, 0u);
  log.reset();
  log = OpenLog();
  ASSERT_TRUE(log);
  EXPECT_EQ(log->last_index(), 5u);
  EXPECT_EQ(log->last_time_us(), 5000);
  EXPECT_EQ(log->end(), end);
  EXPECT_EQ(log->generation(), gen);
  EXPECT_TRUE(log->recovery().new_generation_why.empty());
  auto off = log->Append(MakeEntry(6));
  ASSERT_TRUE(off.ok());
  EXPECT_EQ(*off, end);
  EXPECT_EQ(Indexes(*log), Seq(1, 6));
  auto file = ReadGenerationFile(dir_);
  ASSERT_TRUE(file.ok());
  EXPECT_EQ(file->id, gen);
  EXPECT_EQ(file->first_index, 1u);
}

// A power loss or kill -9 mid-write leaves part of the last entry: recovery
// cuts it and keeps every entry before it.
TEST_F(LogTest, TornTailIsCut) {
  uint64_t size = MakeEntry(1).size();
  for (uint64_t cut : {uint64_t{1}, uint64_t{8}, uint64_t{87}, uint64_t{88}, size - 8, size - 1}) {
    SCOPED_TRACE(cut);
    fs::remove_all(dir_);
    auto log = OpenLog();
    ASSERT_TRUE(log);
    auto offsets = AppendRange(log.get(), 1, 3);
    log.reset();
    std::string file = WalFiles()[0];
    uint64_t keep = kSegmentHeaderSize + offsets[2];
    fs::resize_file(file, keep + cut);
    log = OpenLog();
    ASSERT_TRUE(log);
    EXPECT_EQ(log->recovery().cut_bytes, cut);
    EXPECT_TRUE(log->recovery().new_generation_why.empty());
    EXPECT_EQ(log->last_index(), 2u);
    EXPECT_EQ(fs::file_size(file), keep);
    EXPECT_EQ(Indexes(*log), Seq(1, 2));
  }
}

TEST_F(LogTest, ZeroFilledTailIsCut) {
  auto log = OpenLog();
  ASSERT_TRUE(log);
  AppendRange(log.get(), 1, 3);
  uint64_t end = log->end();
  log.reset();
  std::string file = WalFiles()[0];
  {
    std::ofstream out(file, std::ios::app | std::ios::binary);
    out << std::string(4096, '\0');
  }
  log = OpenLog();
  ASSERT_TRUE(log);
  EXPECT_EQ(log->recovery().cut_bytes, 4096u);
  EXPECT_EQ(log->last_index(), 3u);
  EXPECT_EQ(log->end(), end);
  EXPECT_EQ(Indexes(*log), Seq(1, 3));
}

// A checksum that fails in the last entry, with nothing after it, is what a
// torn write leaves (the header reached the disk, the body did not): cut.
TEST_F(LogTest, DamageInTheLastEntryIsATornTail) {
  auto log = OpenLog();
  ASSERT_TRUE(log);
  auto offsets = AppendRange(log.get(), 1, 3);
  uint64_t gen = log->generation();
  log.reset();
  std::string file = WalFiles()[0];
  {
    std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(kSegmentHeaderSize + offsets[2] + 100));
    f.put('\x7f');
  }
  log = OpenLog();
  ASSERT_TRUE(log);
  EXPECT_TRUE(log->recovery().new_generation_why.empty()) << log->recovery().new_generation_why;
  EXPECT_EQ(log->recovery().cut_bytes, MakeEntry(3).size());
  EXPECT_EQ(log->last_index(), 2u);
  EXPECT_EQ(log->generation(), gen);
}

TEST_F(LogTest, DamageMidFileStartsANewGeneration) {
  auto log = OpenLog();
  ASSERT_TRUE(log);
  auto offsets = AppendRange(log.get(), 1, 5);
  uint64_t gen = log->generation();
  log.reset();
  std::string file = WalFiles()[0];
  {
    std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(kSegmentHeaderSize + offsets[1] + 100));
    char c = 0;
    f.seekg(f.tellp());
    f.get(c);
    f.seekp(static_cast<std::streamoff>(kSegmentHeaderSize + offsets[1] + 100));
    f.put(static_cast<char>(c ^ 0x20));
  }
  auto size_before = fs::file_size(file);
  log = OpenLog();
  ASSERT_TRUE(log);
  EXPECT_NE(log->recovery().new_generation_why.find("damaged"), std::string::npos)
      << log->recovery().new_generation_why;
  EXPECT_EQ(log->recovery().cut_bytes, 0u);
  EXPECT_EQ(fs::file_size(file), size_before);  // kept, not cut
  EXPECT_EQ(log->last_index(), 1u);
  ASSERT_TRUE(log->Append(MakeEntry(6)).ok());
  EXPECT_NE(log->generation(), gen);
  EXPECT_EQ(WalFiles().size(), 2u);
  ASSERT_TRUE(log->WaitDurable(log->end(), 5s));
  auto g = ReadGenerationFile(dir_);
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g->id, log->generation());
  EXPECT_EQ(g->first_index, 6u);
  EXPECT_NE(g->reason.find("damaged"), std::string::npos);
}

TEST_F(LogTest, NewerEntryRefusesToOpen) {
  auto log = OpenLog();
  ASSERT_TRUE(log);
  AppendRange(log.get(), 1, 2);
  std::string newer = MakeEntry(3);
  PutLe(&newer, 4, 2, 2);  // format 2, resealed
  PutLe(&newer, 84, Crc32c(std::string_view(newer).substr(0, 84)), 4);
  ASSERT_TRUE(log->Append(newer).ok());
  log.reset();
  auto again = LocalLog::Open(dir_, {});
  ASSERT_FALSE(again.ok());
  EXPECT_NE(again.error().message.find("newer hearth"), std::string::npos) << again.error().message;
  EXPECT_NE(again.error().message.find("upgrade"), std::string::npos) << again.error().message;
}

TEST_F(LogTest, NewerSegmentRefusesToOpen) {
  fs::create_directories(dir_ + "/wal");
  std::string header = EncodeSegmentHeader({7, 1, 0, 0});
  PutLe(&header, 4, 2, 2);
  std::ofstream(dir_ + "/wal/" + SegmentName(1), std::ios::binary) << header;
  auto log = LocalLog::Open(dir_, {});
  ASSERT_FALSE(log.ok());
  EXPECT_NE(log.error().message.find("upgrade"), std::string::npos) << log.error().message;
}

// The generation record is hearth's own, but a damaged one is not trusted:
// the log goes on in a new generation rather than refusing to start.
TEST_F(LogTest, AnUnreadableGenerationFileStartsANewGeneration) {
  auto log = OpenLog();
  ASSERT_TRUE(log);
  AppendRange(log.get(), 1, 2);
  uint64_t gen = log->generation();
  log.reset();
  for (const char* text : {"{\"id\": 5}", "not json", "{\"id\": \"zz00000000000000\"}"}) {
    SCOPED_TRACE(text);
    std::ofstream(dir_ + "/generation") << text;
    EXPECT_FALSE(ReadGenerationFile(dir_).ok());
    log = OpenLog();
    ASSERT_TRUE(log);
    EXPECT_FALSE(log->recovery().new_generation_why.empty());
    EXPECT_EQ(log->last_index(), 2u);
    log.reset();
  }
  log = OpenLog();
  ASSERT_TRUE(log->Append(MakeEntry(3)).ok());
  EXPECT_NE(log->generation(), gen);
  ASSERT_TRUE(log->WaitDurable(log->end(), 5s));
  auto g = ReadGenerationFile(dir_);
  ASSERT_TRUE(g.ok()) << g.error().message;
  EXPECT_EQ(g->id, log->generation());
}

TEST_F(LogTest, SegmentHeaderRefusals) {
  std::string h = EncodeSegmentHeader({1, 2, 3, 4});
  HeaderFault fault;
  auto ok = DecodeSegmentHeader(h, &fault);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->first_index, 2u);
  EXPECT_EQ(ok->base_offset, 3u);
  EXPECT_FALSE(DecodeSegmentHeader(h.substr(0, 63), &fault).ok());
  EXPECT_EQ(fault, HeaderFault::kTruncated);
  std::string bad = h;
  bad[20] ^= 1;
  EXPECT_FALSE(DecodeSegmentHeader(bad, &fault).ok());
  EXPECT_EQ(fault, HeaderFault::kDamaged);
  bad = h;
  bad[0] = 'X';
  EXPECT_FALSE(DecodeSegmentHeader(bad, &fault).ok());
  EXPECT_EQ(fault, HeaderFault::kDamaged);
}

TEST_F(LogTest, BreakStartsANewGenerationAtTheNextAppend) {
  auto log = OpenLog();
  ASSERT_TRUE(log);
  AppendRange(log.get(), 1, 2);
  uint64_t gen = log->generation();
  log->Break("entry 3 was not kept: disk full");
  EXPECT_TRUE(log->broken());
  EXPECT_EQ(log->breaks(), 1u);
  EXPECT_EQ(log->generation(), gen);  // not until the next append
  EXPECT_TRUE(fs::exists(dir_ + "/broken"));
  ASSERT_TRUE(log->Append(MakeEntry(4)).ok());
  EXPECT_NE(log->generation(), gen);
  EXPECT_EQ(WalFiles().size(), 2u);  // the old generation's file is kept
  ASSERT_TRUE(log->WaitDurable(log->end(), 5s));
  EXPECT_FALSE(log->broken());
  // The marker stays until the new generation's first entry committed.
  EXPECT_TRUE(fs::exists(dir_ + "/broken"));
  log->MarkCommitted(log->end());
  EXPECT_TRUE(Eventually([&] { return !fs::exists(dir_ + "/broken"); }));
  auto g = ReadGenerationFile(dir_);
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g->id, log->generation());
  EXPECT_EQ(g->first_index, 4u);
  EXPECT_NE(g->reason.find("disk full"), std::string::npos);
  EXPECT_EQ(Indexes(*log), (std::vector<uint64_t>{1, 2, 4}));
}

// A break recorded before a stop still starts a new generation after it.
TEST_F(LogTest, BreakSurvivesARestart) {
  auto log = OpenLog();
  ASSERT_TRUE(log);
  AppendRange(log.get(), 1, 2);
  uint64_t gen = log->generation();
  log->Break("lost");
  log.reset();
  log = OpenLog();
  ASSERT_TRUE(log);
  EXPECT_NE(log->recovery().new_generation_why.find("lost"), std::string::npos);
  ASSERT_TRUE(log->Append(MakeEntry(3)).ok());
  EXPECT_NE(log->generation(), gen);
}

TEST_F(LogTest, DropUncommittedTailCutsALastEntryItsDatabaseLacks) {
  auto log = OpenLog();
  ASSERT_TRUE(log);
  AppendRange(log.get(), 1, 1, "hearth.db");
  auto offsets = AppendRange(log.get(), 2, 2, "apps/a.db");
  uint64_t gen = log->generation();
  log.reset();
  log = OpenLog();
  ASSERT_TRUE(log);
  auto check = log->DropUncommittedTail({{"hearth.db", 1}, {"apps/a.db", 0}});
  ASSERT_TRUE(check.ok());
  EXPECT_TRUE(check->dropped);
  EXPECT_FALSE(check->new_generation) << check->why;
  EXPECT_EQ(log->last_index(), 1u);
  EXPECT_EQ(log->end(), offsets[0]);
  auto off = log->Append(MakeEntry(2, "apps/a.db"));
  ASSERT_TRUE(off.ok());
  EXPECT_EQ(*off, offsets[0]);
  EXPECT_EQ(log->generation(), gen);
}

TEST_F(LogTest, DropUncommittedTailKeepsWhatCommitted) {
  auto log = OpenLog();
  ASSERT_TRUE(log);
  AppendRange(log.get(), 1, 2, "apps/a.db");
  log.reset();
  log = OpenLog();
  auto check = log->DropUncommittedTail({{"hearth.db", 0}, {"apps/a.db", 2}});
  ASSERT_TRUE(check.ok());
  EXPECT_FALSE(check->dropped);
  EXPECT_FALSE(check->new_generation);
  EXPECT_EQ(log->last_index(), 2u);
}

TEST_F(LogTest, DatabaseAheadOfTheLogNeedsANewGeneration) {
  auto log = OpenLog();
  ASSERT_TRUE(log);
  AppendRange(log.get(), 1, 2);
  uint64_t gen = log->generation();
  log.reset();
  log = OpenLog();
  auto check = log->DropUncommittedTail({{"hearth.db", 2}, {"apps/b.db", 5}});
  ASSERT_TRUE(check.ok());
  EXPECT_FALSE(check->dropped);
  EXPECT_TRUE(check->new_generation);
  EXPECT_NE(check->why.find("apps/b.db"), std::string::npos) << check->why;
  ASSERT_TRUE(log->Append(MakeEntry(6)).ok());
  EXPECT_NE(log->generation(), gen);
}

// log/ was deleted while the databases kept their indexes.
TEST_F(LogTest, AnEmptyLogBehindTheDatabasesNeedsANewGeneration) {
  auto log = OpenLog();
  ASSERT_TRUE(log);
  auto check = log->DropUncommittedTail({{"hearth.db", 3}});
  ASSERT_TRUE(check.ok());
  EXPECT_TRUE(check->new_generation);
  check = log->DropUncommittedTail({{"hearth.db", 0}});
  ASSERT_TRUE(check.ok());
  EXPECT_FALSE(check->new_generation);
}

TEST_F(LogTest, DropThroughKeepsTheCurrentFile) {
  uint64_t size = MakeEntry(1).size();
  auto log = OpenLog(kSegmentHeaderSize + 3 * size);  // three entries a file
  ASSERT_TRUE(log);
  AppendRange(log.get(), 1, 10);  // files start at 1, 4, 7, 10
  ASSERT_EQ(WalFiles().size(), 4u);
  auto dropped = log->DropThrough(5);  // only 1-3 is wholly at or below 5
  ASSERT_TRUE(dropped.ok());
  EXPECT_EQ(*dropped, 1);
  EXPECT_EQ(Indexes(*log), Seq(4, 10));
  dropped = log->DropThrough(6);  // 4-6 now
  ASSERT_TRUE(dropped.ok());
  EXPECT_EQ(*dropped, 1);
  dropped = log->DropThrough(100);
  ASSERT_TRUE(dropped.ok());
  EXPECT_EQ(*dropped, 1);  // 7-9; 10's file is the current one
  ASSERT_EQ(WalFiles().size(), 1u);
  EXPECT_EQ(fs::path(WalFiles()[0]).filename(), SegmentName(10));
  ASSERT_TRUE(log->Append(MakeEntry(11)).ok());
  EXPECT_EQ(Indexes(*log), Seq(10, 11));
}

// Readers walk entry by entry: an entry larger than the first read and a
// reader that stops early both work.
TEST_F(LogTest, ForEachReadsLargeEntriesAndStopsWhenAsked) {
  auto log = OpenLog();
  ASSERT_TRUE(log);
  ASSERT_TRUE(log->Append(MakeEntry(1, "hearth.db", 100000)).ok());
  ASSERT_TRUE(log->Append(MakeEntry(2)).ok());
  ASSERT_TRUE(log->Append(MakeEntry(3, "hearth.db", 9000)).ok());
  std::vector<size_t> sizes;
  ASSERT_TRUE(log->ForEach(0, UINT64_MAX,
                           [&](const LogEntry& e) {
                             sizes.push_back(e.view.ops[0].payload.size());
                             return sizes.size() < 2;
                           })
                  .ok());
  ASSERT_EQ(sizes.size(), 2u);
  EXPECT_GT(sizes[0], 100000u);
  EXPECT_EQ(Indexes(*log), Seq(1, 3));
}

// Writers append one at a time (the sequencer's ticket) from several
// threads and wait for durability, while a reader walks what is readable:
// it always sees a gap-free prefix. Every fifth batch's COMMIT fails once
// first: its entry is cut and appended again.
TEST_F(LogTest, ConcurrentWritersAndAReader) {
  auto log = OpenLog(8192);
  ASSERT_TRUE(log);
  std::mutex ticket;
  uint64_t next = 1;
  std::atomic<bool> done{false};
  std::atomic<int> failures{0};
  std::thread reader([&] {
    while (!done.load()) {
      uint64_t expect = 1;
      Status st = log->ForEach(0, log->readable(), [&](const LogEntry& e) {
        if (e.view.index != expect++) failures.fetch_add(1);
        return true;
      });
      if (!st.ok()) failures.fetch_add(1);
    }
  });
  std::vector<std::thread> writers;
  for (int w = 0; w < 4; ++w)
    writers.emplace_back([&] {
      for (int i = 0; i < 100; ++i) {
        uint64_t end = 0;
        {
          std::lock_guard lk(ticket);
          std::string e = MakeEntry(next);
          if (i % 5 == 0) {
            auto failed = log->Append(MakeEntry(next, "apps/a.db"));
            if (failed.ok())
              log->TruncateTo(*failed);
            else
              failures.fetch_add(1);
          }
          auto off = log->Append(e);
          if (!off.ok()) {
            failures.fetch_add(1);
            continue;
          }
          ++next;
          end = *off + e.size();
          log->MarkCommitted(end);
        }
        if (!log->WaitDurable(end, 10s)) failures.fetch_add(1);
      }
    });
  for (auto& t : writers) t.join();
  done = true;
  reader.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(Indexes(*log), Seq(1, 400));
  EXPECT_EQ(log->readable(), log->end());
}

// A file cut after its size was read (a failed COMMIT's entry taken back
// while `log dump` walks past what is committed) reads as a torn tail, which
// ends a walk quietly, not as an I/O error.
TEST_F(LogTest, AFileCutUnderTheReaderReadsAsATornTail) {
  auto log = OpenLog();
  ASSERT_TRUE(log);
  auto offsets = AppendRange(log.get(), 1, 2);
  log.reset();
  auto files = ListSegments(dir_ + "/wal");
  ASSERT_TRUE(files.ok());
  ASSERT_EQ(files->size(), 1u);
  const SegmentFile& f = (*files)[0];
  uint64_t size = MakeEntry(1).size();
  {
    // Cut whole: the walk ends where the file now ends.
    fs::resize_file(f.path, kSegmentHeaderSize + offsets[1]);
    int fd = open(f.path.c_str(), O_RDONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    SegmentReader reader(fd, f, f.size);
    EXPECT_TRUE(reader.Read().error.empty());
    EXPECT_TRUE(reader.Read().done);
    close(fd);
  }
  std::ofstream(f.path, std::ios::app | std::ios::binary) << MakeEntry(2);
  {
    // Cut inside the entry, after its first bytes were read.
    int fd = open(f.path.c_str(), O_RDONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    SegmentFile big = f;
    big.size = kSegmentHeaderSize + offsets[1] + size;
    fs::resize_file(f.path, kSegmentHeaderSize + offsets[1] + size - 8);
    SegmentReader reader(fd, big, big.size);
    EXPECT_TRUE(reader.Read().error.empty());
    auto next = reader.Read();
    close(fd);
    EXPECT_EQ(next.fault, store::EntryFault::kTruncated) << next.error;
    EXPECT_EQ(reader.position(), kSegmentHeaderSize + offsets[1]);
  }
}

TEST_F(LogTest, AppendRefusesWhatIsNotOneEntry) {
  auto log = OpenLog();
  ASSERT_TRUE(log);
  EXPECT_FALSE(log->Append("short").ok());
  std::string two = MakeEntry(1) + MakeEntry(2);
  EXPECT_FALSE(log->Append(two).ok());
  EXPECT_EQ(log->end(), 0u);
}

}  // namespace
}  // namespace hearth::stream

namespace hearth::stream {
namespace {

// The writer and the log together: what a store commits is in the log,
// numbered, stamped with the log's generation, committed and durable; a
// break moves the next entry to a new generation, stamped with its id.
TEST(LogWithStore, CommittedBatchesAreEntriesOfTheLogsGeneration) {
  char tmpl[] = "/tmp/hearth-logstore-XXXXXX";
  std::string root = mkdtemp(tmpl);
  auto log = LocalLog::Open(root + "/log");
  ASSERT_TRUE(log.ok()) << log.error().message;
  store::Sequencer seq(1, 0);
  auto ctx = std::make_shared<store::StreamContext>();
  ctx->sequencer = &seq;
  ctx->sink = log->get();
  store::Store::Options o;
  o.path = root + "/a.db";
  o.migrations = {{1, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL);"}};
  o.name = "hearth.db";
  o.stream = ctx;
  auto s = store::Store::Open(std::move(o));
  ASSERT_TRUE(s.ok()) << s.error().message;
  for (int i = 1; i <= 3; ++i)
    ASSERT_TRUE((*s)->Write([i](store::Connection& c) {
                      return c.Exec("INSERT INTO t VALUES (" + std::to_string(i) + ", 'x')");
                    })
                    .ok());
  (*log)->Break("test: the stream broke");
  ASSERT_TRUE(
      (*s)->Write([](store::Connection& c) { return c.Exec("INSERT INTO t VALUES (4, 'y')"); })
          .ok());
  ASSERT_TRUE((*log)->WaitDurable((*log)->end(), std::chrono::seconds(5)));
  EXPECT_EQ((*log)->committed(), (*log)->end());
  std::vector<std::pair<uint64_t, uint64_t>> seen;  // index, generation stamped
  std::vector<uint64_t> files;                      // generation of the file it was in
  Status st = (*log)->ForEach(1, (*log)->readable(), [&](const LogEntry& e) {
    seen.emplace_back(e.view.index, e.view.generation);
    files.push_back(e.generation);
    return true;
  });
  ASSERT_TRUE(st.ok()) << st.error().message;
  ASSERT_EQ(seen.size(), 4u);
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(seen[i].first, i + 1);
    EXPECT_EQ(seen[i].second, files[i]) << "entry and file disagree on the generation";
  }
  EXPECT_NE(seen[0].second, 0u);
  EXPECT_EQ(seen[0].second, seen[2].second);
  EXPECT_NE(seen[3].second, seen[2].second);  // after the break
  EXPECT_EQ((*log)->last_index(), 4u);
  s->reset();
  log->reset();
  std::filesystem::remove_all(root);
}

}  // namespace
}  // namespace hearth::stream
