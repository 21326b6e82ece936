// Compaction and retention of a backup target (stream/compactor.h), on what
// the uploader really puts into a local folder: L0s become L1s, then L2s,
// entry for entry; a restore of the compacted backup is the restore of the
// uncompacted one; a step cut short between its put and its deletes leaves
// an overlap the next finishes; a window with a hole stays as it is;
// retention keeps the window restorable and deletes what is older; a swept
// bytes object named again is uploaded again.
#include "stream/compactor.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <map>

#include "base/clock.h"
#include "base/log.h"
#include "crypto/hash.h"
#include "s3/local_dir_store.h"
#include "store/digest.h"
#include "store/sqlite.h"
#include "stream/files.h"
#include "stream/restore.h"
#include "stream/uploader.h"

namespace hearth::stream {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr int64_t kSec = 1000000;
const int64_t kT = int64_t{1765101600} * kSec;  // on the hour

// The local folder store, with deletes that fail on demand (a kill, or S3
// failing, between a compaction's put and its deletes).
class TestStore : public s3::ObjectStore {
 public:
  explicit TestStore(std::string root) : inner_(std::move(root)) {}
  std::atomic<bool> deletes_fail{false};
  Status Put(std::string_view key, std::string_view bytes) override {
    return inner_.Put(key, bytes);
  }
  Status PutFile(std::string_view key, const std::string& path) override {
    return inner_.PutFile(key, path);
  }
  Result<std::string> Get(std::string_view key) override { return inner_.Get(key); }
  Status GetToFile(std::string_view key, const std::string& path) override {
    return inner_.GetToFile(key, path);
  }
  Result<std::optional<s3::ObjectInfo>> Head(std::string_view key) override {
    return inner_.Head(key);
  }
  Result<std::vector<s3::ObjectInfo>> List(std::string_view prefix) override {
    return inner_.List(prefix);
  }
  Status Delete(std::string_view key) override {
    if (deletes_fail) return Error{"S3 refused DeleteObject: InternalError (500)"};
    return inner_.Delete(key);
  }
  std::string Describe() const override { return "test"; }

 private:
  s3::LocalDirStore inner_;
};

class CompactorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SetLogLevel(LogLevel::kError);
    char tmpl[] = "/tmp/hearth-compactor-XXXXXX";
    root_ = mkdtemp(tmpl);
    data_ = root_ + "/data";
    fs::create_directories(data_ + "/apps");
    fs::create_directories(root_ + "/target");
    auto log = LocalLog::Open(data_ + "/log");
    ASSERT_TRUE(log.ok()) << log.error().message;
    log_ = std::move(log).value();
    auto c = store::Connection::Open(data_ + "/hearth.db", store::Connection::Mode::kReadWrite);
    ASSERT_TRUE(c.ok());
    db_ = std::move(c).value();
    ASSERT_TRUE(db_->Exec("CREATE TABLE _hearth_stream(one INTEGER PRIMARY KEY, last_index INTEGER "
                          "NOT NULL, last_time INTEGER NOT NULL, generation TEXT NOT NULL DEFAULT "
                          "'');"
                          "INSERT INTO _hearth_stream VALUES (1, 0, 0, '');"
                          "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)")
                    .ok());
    store_ = std::make_unique<TestStore>(root_ + "/target");
  }
  void TearDown() override {
    up_.reset();
    db_.reset();
    log_.reset();
    fs::remove_all(root_);
  }

  // One committed entry: entry i at kT + i seconds inserts row i (or, with
  // `blob`, names those bytes as a deploy blob).
  void CommitOne(uint64_t i, const std::string& blob = "") {
    store::EntryView e;
    e.kind = store::EntryKind::kWrites;
    e.index = i;
    e.generation = log_->Generation();
    e.commit_time_us = kT + static_cast<int64_t>(i) * kSec;
    e.database = "hearth.db";
    const std::string sql = "INSERT INTO t VALUES (" + std::to_string(i) + ", 'x')";
    const std::string sha = crypto::Sha256Digest(blob);
    std::string payload;
    if (blob.empty()) {
      e.ops.push_back({store::OpKind::kDdl, sql});
    } else {
      store::BlobPutOp put;
      put.size = blob.size();
      put.hash = sha;
      put.sha256 = sha;
      payload = *store::EncodeBlobPut(put);
      e.ops.push_back({store::OpKind::kBlobPut, payload});
    }
    auto bytes = store::EncodeEntry(e);
    ASSERT_TRUE(bytes.ok());
    auto off = log_->Append(*bytes);
    ASSERT_TRUE(off.ok());
    ASSERT_TRUE(db_->Exec((blob.empty() ? sql + ";" : std::string()) +
                          "UPDATE _hearth_stream SET last_index = " + std::to_string(i) +
                          ", last_time = " + std::to_string(e.commit_time_us))
                    .ok());
    log_->MarkCommitted(*off + bytes->size());
    ASSERT_TRUE(log_->WaitDurable(*off + bytes->size(), 5s));
  }
  void Commit(uint64_t first, uint64_t last) {
    for (uint64_t i = first; i <= last; ++i) CommitOne(i);
  }

  // An uploader on the test store (which it does not own).
  class Borrowed : public s3::ObjectStore {
   public:
    explicit Borrowed(s3::ObjectStore* s) : s_(s) {}
    Status Put(std::string_view k, std::string_view b) override { return s_->Put(k, b); }
    Status PutFile(std::string_view k, const std::string& p) override { return s_->PutFile(k, p); }
    Result<std::string> Get(std::string_view k) override { return s_->Get(k); }
    Status GetToFile(std::string_view k, const std::string& p) override {
      return s_->GetToFile(k, p);
    }
    Result<std::optional<s3::ObjectInfo>> Head(std::string_view k) override { return s_->Head(k); }
    Result<std::vector<s3::ObjectInfo>> List(std::string_view p) override { return s_->List(p); }
    Status Delete(std::string_view k) override { return s_->Delete(k); }
    std::string Describe() const override { return "test"; }

   private:
    s3::ObjectStore* s_;
  };
  Uploader& Up(UploaderOptions o = {}) {
    if (!up_) {
      o.data_dir = data_;
      o.hearth_version = "test";
      up_ = std::make_unique<Uploader>(log_.get(), std::make_unique<Borrowed>(store_.get()), o);
    }
    return *up_;
  }

  BackupView View() {
    auto list = store_->List("");
    EXPECT_TRUE(list.ok());
    return ReadListing(list.ok() ? *list : std::vector<s3::ObjectInfo>{});
  }
  const GenerationView& Gen() {
    view_ = View();
    EXPECT_FALSE(view_.generations.empty());
    return view_.generations.back();
  }
  // Every entry the newest generation's segments hold, by index (each
  // segment opened and checked; an overlap must hold the same bytes).
  std::map<uint64_t, std::string> Entries() {
    std::map<uint64_t, std::string> out;
    for (const auto& s : Gen().segments) {
      auto object = store_->Get(s.key);
      EXPECT_TRUE(object.ok());
      auto seg = OpenSegment(*object, s.name);
      EXPECT_TRUE(seg.ok()) << s.key;
      if (!seg.ok()) continue;
      for (auto bytes : seg->entries) {
        uint64_t index = store::DecodeEntry(bytes)->index;
        if (out.count(index)) {
          EXPECT_EQ(out[index], bytes) << index;
        }
        out[index] = std::string(bytes);
      }
    }
    return out;
  }
  std::vector<int> Levels() {
    std::vector<int> out;
    for (const auto& s : Gen().segments) out.push_back(s.name.level);
    return out;
  }
  // Steps until there is nothing more to do (bounded).
  int CompactAll(Compactor& c, int64_t now) {
    int steps = 0;
    for (; steps < 100; ++steps) {
      auto did = c.CompactStep(Gen().name, now);
      EXPECT_TRUE(did.ok()) << did.error().message;
      if (!did.ok() || !*did) break;
    }
    return steps;
  }
  // The restored hearth.db's digest ("" when the restore failed: `why`).
  std::string RestoreDigest(const std::string& dir, RestoreTarget target = {},
                            std::string* why = nullptr) {
    RestoreOptions o;
    o.data_dir = root_ + "/" + dir;
    o.target = target;
    auto r = Restore(*store_, o);
    if (!r.ok()) {
      if (why) *why = r.error().message;
      return "";
    }
    auto c = store::Connection::Open(o.data_dir + "/hearth.db", store::Connection::Mode::kReadOnly);
    if (!c.ok()) return "";
    auto d = store::Digest(**c);
    return d.ok() ? *d : "";
  }

  // Caught-up marks carry the real time, a year after these tests' 2025
  // entries: retention would take a generation holding one for a new one.
  void DropCaughtUpMarks() {
    auto listing = store_->List("");
    ASSERT_TRUE(listing.ok());
    for (const auto& obj : *listing)
      if (obj.key.find("/caught-up/") != std::string::npos) {
        ASSERT_TRUE(store_->Delete(obj.key).ok());
      }
  }

  CompactorOptions Windows() {
    CompactorOptions o;
    o.l1_window_us = 10 * kSec;
    o.l2_window_us = 60 * kSec;
    o.grace_us = 0;
    return o;
  }

  std::string root_, data_;
  std::unique_ptr<LocalLog> log_;
  std::unique_ptr<store::Connection> db_;
  std::unique_ptr<TestStore> store_;
  std::unique_ptr<Uploader> up_;
  BackupView view_;
};

// Entries 1..30 as L0s of three (one upload pass each), entry i at kT + i s.
TEST_F(CompactorTest, L0sBecomeL1sThenAnL2EntryForEntry) {
  for (uint64_t i = 1; i <= 30; i += 3) {
    Commit(i, i + 2);
    ASSERT_TRUE(Up().RunOnce().ok());
  }
  ASSERT_EQ(Gen().segments.size(), 10u);
  const auto before = Entries();
  ASSERT_EQ(before.size(), 30u);
  const std::string digest = RestoreDigest("before");
  ASSERT_FALSE(digest.empty());

  Compactor c(store_.get(), Windows());
  // 10-second windows by first entry: 1,4,7 | 10..19 | 22,25,28; none
  // closed yet at kT + 20 s but the first two.
  CompactAll(c, kT + 20 * kSec);
  EXPECT_EQ(Levels(), (std::vector<int>{1, 1, 0, 0, 0}));
  EXPECT_EQ(Gen().segments[0].name.first, 1u);
  EXPECT_EQ(Gen().segments[0].name.last, 9u);
  EXPECT_EQ(Gen().segments[1].name.last, 21u);
  EXPECT_EQ(Entries(), before);
  // Every L1 window closed; the hour's L2 not yet.
  CompactAll(c, kT + 45 * kSec);
  EXPECT_EQ(Levels(), (std::vector<int>{1, 1, 1}));
  EXPECT_EQ(Entries(), before);
  CompactAll(c, kT + 60 * kSec);
  EXPECT_EQ(Levels(), (std::vector<int>{2}));
  EXPECT_EQ(Entries(), before);
  EXPECT_EQ(c.stats().compactions[1], 3u);
  EXPECT_EQ(c.stats().compactions[2], 1u);
  EXPECT_EQ(c.stats().deleted_segments, 13u);
  // The compacted segment is level 2 inside too, and compressed harder.
  auto object = store_->Get(Gen().segments[0].key);
  auto seg = OpenSegment(*object, Gen().segments[0].name);
  ASSERT_TRUE(seg.ok());
  EXPECT_EQ(seg->info.level, 2);

  // Restores of the compacted backup: the same as of the uncompacted one.
  EXPECT_EQ(RestoreDigest("after"), digest);
  const std::string at_index = RestoreDigest("i17", {RestoreTarget::kIndex, 17, 0});
  const std::string at_time = RestoreDigest("t17", {RestoreTarget::kTime, 0, kT + 17 * kSec});
  EXPECT_FALSE(at_index.empty());
  EXPECT_EQ(at_index, at_time);
  EXPECT_NE(at_index, digest);
  // Nothing more to do, and nothing done again.
  EXPECT_EQ(CompactAll(c, kT + 3600 * kSec), 0);
}

TEST_F(CompactorTest, AStepCutShortBetweenPutAndDeletesIsFinishedByTheNext) {
  for (uint64_t i = 1; i <= 9; i += 3) {
    Commit(i, i + 2);
    ASSERT_TRUE(Up().RunOnce().ok());
  }
  const auto before = Entries();
  const std::string digest = RestoreDigest("before");
  {
    Compactor c(store_.get(), Windows());
    store_->deletes_fail = true;  // the L1 is put, then the process dies
    auto did = c.CompactStep(Gen().name, kT + 20 * kSec);
    EXPECT_FALSE(did.ok());
  }
  store_->deletes_fail = false;
  EXPECT_EQ(Levels(), (std::vector<int>{1, 0, 0, 0}));  // an overlap, never a hole
  EXPECT_EQ(Entries(), before);
  std::string why;
  EXPECT_EQ(RestoreDigest("overlap", {}, &why), digest) << why;
  // Restarted: the next run deletes what the L1 holds, and puts nothing.
  Compactor c(store_.get(), Windows());
  CompactAll(c, kT + 20 * kSec);
  EXPECT_EQ(Levels(), (std::vector<int>{1}));
  EXPECT_EQ(c.stats().compactions[1], 0u);
  EXPECT_EQ(c.stats().deleted_segments, 3u);
  EXPECT_EQ(Entries(), before);
  EXPECT_EQ(RestoreDigest("after"), digest);
}

// A window holding more than max_segment_bytes becomes several segments,
// one a step (a step reads a bounded amount).
TEST_F(CompactorTest, ABigWindowBecomesSeveralSegmentsOneAStep) {
  for (uint64_t i = 1; i <= 9; i += 3) {
    Commit(i, i + 2);
    ASSERT_TRUE(Up().RunOnce().ok());
  }
  const auto before = Entries();
  CompactorOptions o = Windows();
  o.max_segment_bytes = 1;  // every source alone
  Compactor c(store_.get(), o);
  auto did = c.CompactStep(Gen().name, kT + 20 * kSec);
  ASSERT_TRUE(did.ok() && *did);
  EXPECT_EQ(Levels(), (std::vector<int>{1, 0, 0}));
  EXPECT_EQ(CompactAll(c, kT + 20 * kSec), 2);
  EXPECT_EQ(Levels(), (std::vector<int>{1, 1, 1}));
  EXPECT_EQ(c.stats().compactions[1], 3u);
  EXPECT_EQ(Entries(), before);
}

TEST_F(CompactorTest, AWindowWithAHoleIsLeftAlone) {
  for (uint64_t i = 1; i <= 18; i += 3) {
    Commit(i, i + 2);
    ASSERT_TRUE(Up().RunOnce().ok());
  }
  // 10..12 is lost: the window of 10, 13, 16 has a hole; that of 1, 4, 7 not.
  for (const auto& s : Gen().segments)
    if (s.name.first == 13) {
      ASSERT_TRUE(store_->Delete(s.key).ok());
    }
  Compactor c(store_.get(), Windows());
  CompactAll(c, kT + 50 * kSec);
  EXPECT_EQ(Levels(), (std::vector<int>{1, 0, 0}));
  EXPECT_EQ(Gen().segments[1].name.first, 10u);
  EXPECT_EQ(Gen().segments[2].name.first, 16u);
  EXPECT_EQ(c.stats().holes_skipped, 1u);
  EXPECT_EQ(c.stats().compactions[1], 1u);
  // The hour keeps its L0s, so no L2 either; counted once.
  CompactAll(c, kT + 3600 * kSec);
  EXPECT_EQ(Levels(), (std::vector<int>{1, 0, 0}));
  EXPECT_EQ(c.stats().holes_skipped, 1u);
  // Restore still names the hole.
  std::string why;
  EXPECT_EQ(RestoreDigest("r", {}, &why), "");
  EXPECT_NE(why.find("entries 13–15 are missing"), std::string::npos) << why;
}

// Two generations; snapshots at 3 and 5 in the first, 7, 9 and 11 in the
// second (one every pass). With the window starting at kT + 10.5 s, the
// snapshot at 9 is the newest older one: it stays, with what follows it.
TEST_F(CompactorTest, RetentionKeepsTheWindowRestorableAndDeletesWhatIsOlder) {
  UploaderOptions uo;
  uo.snapshot_every = 0ms;
  Commit(1, 3);
  ASSERT_TRUE(Up(uo).RunOnce().ok());
  Commit(4, 5);
  ASSERT_TRUE(Up().RunOnce().ok());
  log_->Break("a test");
  for (uint64_t i = 6; i <= 11; i += 2) {
    Commit(i, i + 1);
    ASSERT_TRUE(Up().RunOnce().ok());
  }
  ASSERT_EQ(View().generations.size(), 2u);
  ASSERT_EQ(Gen().snapshots.size(), 3u);
  const std::string latest = RestoreDigest("latest-before");
  const std::string at = RestoreDigest("at-before", {RestoreTarget::kTime, 0, kT + 10500000});
  ASSERT_FALSE(at.empty());

  // A generation whose name sorts first (a clock set back at a restart)
  // but that holds a moment after the anchor: not deleted.
  const std::string odd = SnapshotDatabaseKey(
      SnapshotFolderKey(GenerationName(0x77, kT - 3600 * kSec), 50, kT + 50 * kSec), "hearth.db");
  ASSERT_TRUE(store_->Put(odd, "x").ok());

  DropCaughtUpMarks();
  CompactorOptions o;
  o.retention_us = 100 * kSec - 10500000;
  Compactor c(store_.get(), o);
  const int64_t now = kT + 100 * kSec;
  auto more = c.RetainStep(now, nullptr);
  ASSERT_TRUE(more.ok()) << more.error().message;
  EXPECT_FALSE(*more);
  EXPECT_TRUE(store_->Get(odd).ok());
  BackupView v = View();
  ASSERT_EQ(v.generations.size(), 2u);  // the older generation is gone; the odd one stays
  const GenerationView& g = v.generations[1];
  ASSERT_EQ(g.snapshots.size(), 2u);
  EXPECT_EQ(g.snapshots[0].index, 9u);
  EXPECT_EQ(g.snapshots[1].index, 11u);
  // 6..7 and 8..9 went: the snapshot at 9 holds 9 (it was uploaded before
  // the copies), so replay starts at 10.
  ASSERT_EQ(g.segments.size(), 1u);
  EXPECT_EQ(g.segments[0].name.first, 10u);
  EXPECT_GT(c.stats().deleted_generations, 0u);
  EXPECT_GT(c.stats().deleted_snapshots, 0u);
  EXPECT_EQ(c.stats().deleted_segments, 2u);
  // The oldest moment of the window, and the latest, restore as before.
  std::string why;
  EXPECT_EQ(RestoreDigest("at-after", {RestoreTarget::kTime, 0, kT + 10500000}, &why), at) << why;
  EXPECT_EQ(RestoreDigest("latest-after"), latest);
  // Before it: not any more.
  EXPECT_EQ(RestoreDigest("old", {RestoreTarget::kTime, 0, kT + 4 * kSec}, &why), "");
  EXPECT_NE(why.find("no backup covers"), std::string::npos) << why;
  // Run again: nothing more goes.
  const uint64_t deleted = c.stats().deleted_snapshots + c.stats().deleted_segments;
  ASSERT_TRUE(c.RetainStep(now, nullptr).ok());
  EXPECT_EQ(c.stats().deleted_snapshots + c.stats().deleted_segments, deleted);
}

// A clock stepped a century ahead for one run: "now" is bounded by the
// target's own clock (its newest object), so nothing of a year's window goes.
TEST_F(CompactorTest, AClockFarAheadDoesNotAgeTheHistoryOut) {
  UploaderOptions uo;
  uo.snapshot_every = 0ms;
  for (uint64_t i = 1; i <= 7; i += 2) {
    Commit(i, i + 1);
    ASSERT_TRUE(Up(uo).RunOnce().ok());
  }
  const size_t objects = store_->List("")->size();
  const size_t snapshots = Gen().snapshots.size();
  ASSERT_GE(snapshots, 3u);
  CompactorOptions o;
  o.retention_us = int64_t{400} * 24 * 3600 * kSec;  // the entries are from 2025
  Compactor c(store_.get(), o);
  ASSERT_TRUE(c.RetainStep(kT + int64_t{100} * 365 * 24 * 3600 * kSec, nullptr).ok());
  EXPECT_EQ(store_->List("")->size(), objects);
  EXPECT_EQ(Gen().snapshots.size(), snapshots);
}

// A generation named with a clock a month ahead holds the newest snapshot
// older than the window; the generation being uploaded (named by the right
// clock, so it sorts before) is never deleted whole.
TEST_F(CompactorTest, TheCurrentGenerationIsNeverDeletedWhole) {
  UploaderOptions uo;
  uo.snapshot_every = 0ms;
  Commit(1, 3);
  ASSERT_TRUE(Up(uo).RunOnce().ok());
  const std::string current = Gen().name;
  // The odd generation: a copy of the current one's snapshot under a name a
  // month ahead.
  const SnapshotRef snap = Gen().snapshots[0];
  const int64_t month = int64_t{30} * 24 * 3600 * kSec;
  const std::string odd = GenerationName(0x99, kT + month);
  const std::string folder = SnapshotFolderKey(odd, snap.index, kT + month);
  auto manifest = store_->Get(SnapshotManifestKey(snap.folder));
  ASSERT_TRUE(manifest.ok());
  ASSERT_TRUE(store_->Put(SnapshotDatabaseKey(folder, "hearth.db"), "x").ok());
  ASSERT_TRUE(store_->Put(SnapshotManifestKey(folder), *manifest).ok());
  // Its caught-up mark (real time, a year after these 2025 entries) would
  // keep it anyway: without it, only the guard does.
  DropCaughtUpMarks();
  CompactorOptions o;
  o.retention_us = 10 * 24 * 3600 * kSec;
  Compactor c(store_.get(), o);
  ASSERT_TRUE(c.RetainStep(kT + 2 * month, nullptr, current).ok());
  BackupView v = View();
  bool kept = false;
  for (const auto& g : v.generations) kept = kept || (g.name == current && g.has_record);
  EXPECT_TRUE(kept);
  // Without the guard it would have gone: the same step naming no current
  // generation deletes it (what the guard is for).
  Compactor unguarded(store_.get(), o);
  ASSERT_TRUE(unguarded.RetainStep(kT + 2 * month, nullptr).ok());
  kept = false;
  for (const auto& g : View().generations) kept = kept || g.name == current;
  EXPECT_FALSE(kept);
}

// Retention that keeps failing (here: the anchor's manifest is damaged)
// does not stop compaction: the same step still compacts a window.
TEST_F(CompactorTest, AFailingRetentionDoesNotStopCompaction) {
  UploaderOptions uo;
  uo.snapshot_every = 0ms;
  Commit(1, 3);
  ASSERT_TRUE(Up(uo).RunOnce().ok());
  for (uint64_t i = 4; i <= 9; i += 3) {
    Commit(i, i + 2);
    ASSERT_TRUE(Up().RunOnce().ok());
  }
  for (const auto& s : Gen().snapshots)
    ASSERT_TRUE(store_->Put(SnapshotManifestKey(s.folder), "{damaged").ok());
  CompactorOptions o = Windows();
  o.retention_us = 1;  // every snapshot is older than the window
  Compactor c(store_.get(), o);
  const size_t l0s = Gen().segments.size();
  auto did = c.Step(Gen().name, kT + 100 * kSec, nullptr);
  EXPECT_FALSE(did.ok());  // retention's error, reported
  EXPECT_EQ(c.stats().compactions[1], 1u);
  EXPECT_LT(Gen().segments.size(), l0s);
}

TEST_F(CompactorTest, NoRetentionWithoutASnapshotOlderThanTheWindow) {
  UploaderOptions uo;
  uo.snapshot_every = 0ms;
  Commit(1, 3);
  ASSERT_TRUE(Up(uo).RunOnce().ok());
  Commit(4, 5);
  ASSERT_TRUE(Up().RunOnce().ok());
  const size_t objects = store_->List("")->size();
  CompactorOptions o;
  o.retention_us = 100 * kSec;  // the window starts before every snapshot
  Compactor c(store_.get(), o);
  ASSERT_TRUE(c.RetainStep(kT + 50 * kSec, nullptr).ok());
  EXPECT_EQ(store_->List("")->size(), objects);
}

// A bytes object no kept segment names any more is swept (and forgotten by
// the uploader first); an entry naming those bytes again uploads them again.
TEST_F(CompactorTest, ASweptBytesObjectIsUploadedAgainWhenNamedAgain) {
  const std::string blob = "the bytes of a deployed file";
  const std::string sha = crypto::Sha256Hex(blob);
  struct One : store::BytesSource {
    std::string b;
    Result<std::string> Blob(std::string_view, std::string_view) override { return b; }
    Result<std::string> File(std::string_view, std::string_view) override {
      return Error{"no files"};
    }
  };
  auto one = std::make_shared<One>();
  one->b = blob;
  // Snapshots only when a generation starts (the daily one is not due), so
  // the entries after the first one stay needed.
  UploaderOptions uo;
  uo.bytes = one;
  uo.upkeep = true;
  uo.compactor.retention_us = 1;  // every snapshot is older than the window
  uo.compactor.retention_every_us = 0;
  uo.compactor.sweep_age_us = 0;
  Commit(1, 1);
  ASSERT_TRUE(Up(uo).RunOnce().ok());  // the snapshot at 1: replay from 2
  CommitOne(2, blob);
  ASSERT_TRUE(Up().RunOnce().ok());
  ASSERT_TRUE(store_->Get(BytesKey(sha)).ok());  // entry 2 names it: kept
  // A snapshot at 3 (an uploader that takes one every pass) needs nothing
  // before it: the segment naming the bytes goes, then the bytes.
  Commit(3, 3);
  up_.reset();
  UploaderOptions every_pass = uo;
  every_pass.snapshot_every = 0ms;
  ASSERT_TRUE(Up(every_pass).RunOnce().ok());
  EXPECT_FALSE(store_->Get(BytesKey(sha)).ok());
  EXPECT_EQ(Up().stats().upkeep.deleted_bytes, 1u);
  std::string idx;
  {
    bool missing = false;
    auto text = ReadSmallFile(data_ + "/log/bytes.idx", &missing);
    if (text.ok()) idx = *text;
  }
  EXPECT_EQ(idx.find(sha), std::string::npos);
  // Named again (the snapshot at 3 is recent: no new one): put again.
  CommitOne(4, blob);
  up_.reset();
  ASSERT_TRUE(Up(uo).RunOnce().ok());
  auto again = store_->Get(BytesKey(sha));
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ(*again, blob);
}

TEST(ParseIsoTime, S3AndFolderForms) {
  EXPECT_EQ(ParseIsoTime("2025-12-07T10:00:00Z"), kT);
  EXPECT_EQ(ParseIsoTime("2025-12-07T10:00:00.000Z"), kT);
  EXPECT_EQ(ParseIsoTime(""), 0);
  EXPECT_EQ(ParseIsoTime("yesterday"), 0);
}

}  // namespace
}  // namespace hearth::stream
