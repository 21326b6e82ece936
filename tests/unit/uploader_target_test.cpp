// The uploader and restore around two edges: a target that is not the one
// the cursor describes (another --backup-to, or the same bucket emptied)
// gets a backup of its own, bytes included; and the record files a restore
// writes are right at every point after a snapshot, whatever the writes did
// to files/ while the snapshot was being taken.
#include <gtest/gtest.h>

#include <fstream>

#include "base/clock.h"
#include "crypto/hash.h"
#include "store/entry.h"
#include "stream/restore.h"
#include "stream/uploader.h"
#include "uploader_fixture.h"

namespace hearth::stream {
namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

class UploaderTargetTest : public UploaderTest {
 protected:
  std::unique_ptr<Uploader> MakeFor(const std::string& target_dir,
                                    std::function<void(std::string_view)> pause = nullptr) {
    fs::create_directories(target_dir);
    UploaderOptions o;
    o.data_dir = data_;
    o.hearth_version = "test";
    o.pause_at = std::move(pause);
    return std::make_unique<Uploader>(log_.get(), std::make_unique<FlakyStore>(target_dir), o);
  }

  // An app database the stream knows, and its files folder.
  void MakeApp() {
    auto c = store::Connection::Open(data_ + "/apps/a.db", store::Connection::Mode::kReadWrite);
    ASSERT_TRUE(c.ok());
    app_ = std::move(c).value();
    ASSERT_TRUE(app_->Exec("CREATE TABLE _hearth_stream(one INTEGER PRIMARY KEY, last_index "
                           "INTEGER NOT NULL, last_time INTEGER NOT NULL, generation TEXT NOT "
                           "NULL DEFAULT '');"
                           "INSERT INTO _hearth_stream VALUES (1, 0, 0, '')")
                    .ok());
  }

  // One entry of apps/a.db: a record file put (written to files/ first, as
  // the writer does) or removed (after the commit, as the writer does).
  void CommitFile(uint64_t index, const std::string& path, const std::string* content) {
    store::EntryView e;
    e.kind = store::EntryKind::kWrites;
    e.index = index;
    e.generation = log_->Generation();
    e.commit_time_us = 1765101600000000 + static_cast<int64_t>(index) * 1000;
    e.database = "apps/a.db";
    std::string payload;
    const std::string on_disk = data_ + "/files/a/" + path;
    if (content) {
      fs::create_directories(fs::path(on_disk).parent_path());
      std::ofstream(on_disk, std::ios::binary) << *content;
      store::FilePutOp put;
      put.size = content->size();
      const std::string sha = crypto::Sha256Digest(*content);
      put.sha256 = sha;
      put.path = path;
      auto p = store::EncodeFilePut(put);
      ASSERT_TRUE(p.ok()) << p.error().message;
      payload = *p;
      e.ops.push_back({store::OpKind::kFilePut, payload});
    } else {
      e.ops.push_back({store::OpKind::kFileDelete, path});
    }
    auto bytes = store::EncodeEntry(e);
    ASSERT_TRUE(bytes.ok()) << bytes.error().message;
    auto off = log_->Append(*bytes);
    ASSERT_TRUE(off.ok());
    ASSERT_TRUE(app_->Exec("UPDATE _hearth_stream SET last_index = " + std::to_string(index) +
                           ", last_time = " + std::to_string(e.commit_time_us))
                    .ok());
    log_->MarkCommitted(*off + bytes->size());
    ASSERT_TRUE(log_->WaitDurable(*off + bytes->size(), 5s));
    if (!content) fs::remove(on_disk);
  }

  Result<RestoreResult> RestoreTo(const std::string& target_dir, const std::string& dest,
                                  uint64_t index = 0) {
    s3::LocalDirStore target(target_dir);
    RestoreOptions o;
    o.data_dir = dest;
    if (index) o.target = {RestoreTarget::kIndex, index, 0};
    return Restore(target, o);
  }

  std::unique_ptr<store::Connection> app_;
};

TEST_F(UploaderTargetTest, AnotherTargetGetsItsOwnGenerationSnapshotAndBytes) {
  MakeApp();
  const std::string content = "the first record file";
  CommitFile(1, "c/r1/f.txt", &content);
  Commit(2, 3);
  const std::string a = root_ + "/a", b = root_ + "/b";
  ASSERT_TRUE(MakeFor(a)->RunOnce().ok());
  // Everything up to 3 went to a; the log dropped it.
  // Pointed at b now: b must not be left with segments from 4 on only.
  Commit(4, 5);
  auto up = MakeFor(b);
  ASSERT_TRUE(up->RunOnce().ok());
  s3::LocalDirStore tb(b);
  auto list = tb.List("");
  ASSERT_TRUE(list.ok());
  BackupView view = ReadListing(*list);
  ASSERT_EQ(view.generations.size(), 1u);
  EXPECT_TRUE(view.generations[0].has_record);
  ASSERT_FALSE(view.generations[0].snapshots.empty());
  EXPECT_TRUE(view.generations[0].snapshots[0].complete);
  // The record file's bytes are in b too (bytes.idx spoke of a).
  auto r = RestoreTo(b, root_ + "/from-b");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->index, 5u);
  EXPECT_EQ(RowsIn(root_ + "/from-b"), 4);  // 2..5
  EXPECT_EQ(ReadAll(root_ + "/from-b/files/a/c/r1/f.txt"), content);
  // Both markers have ids, and they differ.
  auto ma = s3::LocalDirStore(a).Get("hearth-backup.json");
  auto mb = tb.Get("hearth-backup.json");
  ASSERT_TRUE(ma.ok() && mb.ok());
  EXPECT_NE(*ma, *mb);
  EXPECT_NE(mb->find("\"id\""), std::string::npos);
}

// A listing that does not show the marker yet is not a new target: the HEAD
// finds it, the id stays, and nothing starts anew.
TEST_F(UploaderTargetTest, AListingThatMissesTheMarkerIsNotANewTarget) {
  Commit(1, 3);
  const std::string a = root_ + "/a";
  ASSERT_TRUE(MakeFor(a)->RunOnce().ok());
  auto marker = s3::LocalDirStore(a).Get("hearth-backup.json");
  ASSERT_TRUE(marker.ok());
  Commit(4, 5);
  fs::create_directories(a);
  UploaderOptions o;
  o.data_dir = data_;
  o.hearth_version = "test";
  auto store = std::make_unique<FlakyStore>(a);
  store->list_shows_marker = false;
  Uploader up(log_.get(), std::move(store), o);
  ASSERT_TRUE(up.RunOnce().ok());
  auto again = s3::LocalDirStore(a).Get("hearth-backup.json");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *marker);  // same id
  auto list = s3::LocalDirStore(a).List("");
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(ReadListing(*list).generations.size(), 1u);  // not backed up anew
  auto r = RestoreTo(a, root_ + "/r");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->index, 5u);
}

TEST_F(UploaderTargetTest, AnEmptiedTargetIsBackedUpAnew) {
  Commit(1, 3);
  const std::string a = root_ + "/a";
  ASSERT_TRUE(MakeFor(a)->RunOnce().ok());
  // Same server, same target, nothing new to ship: still nothing to do.
  ASSERT_TRUE(MakeFor(a)->RunOnce().ok());
  auto before = s3::LocalDirStore(a).List("");
  ASSERT_TRUE(before.ok());
  EXPECT_EQ(ReadListing(*before).generations.size(), 1u);
  fs::remove_all(a);
  ASSERT_TRUE(MakeFor(a)->RunOnce().ok());  // no new entry since
  auto r = RestoreTo(a, root_ + "/after");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(RowsIn(root_ + "/after"), 3);
}

TEST_F(UploaderTargetTest, RecordFilesAreRightAtEveryPointAfterTheSnapshot) {
  MakeApp();
  const std::string one = "file one", two = "file two";
  CommitFile(1, "c/r1/one.txt", &one);
  const std::string a = root_ + "/a";
  // While the snapshot is taken: after its files are listed, entry 2 puts a
  // file (the copies will hold it); after the copies, entry 3 removes the
  // first (they will not).
  auto up = MakeFor(a, [&](std::string_view point) {
    if (point == "snapshot-files") CommitFile(2, "c/r2/two.txt", &two);
    if (point == "snapshot-copies") CommitFile(3, "c/r1/one.txt", nullptr);
  });
  ASSERT_TRUE(up->RunOnce().ok());
  auto at2 = RestoreTo(a, root_ + "/at2", 2);
  ASSERT_TRUE(at2.ok()) << at2.error().message;
  EXPECT_EQ(ReadAll(root_ + "/at2/files/a/c/r1/one.txt"), one);
  EXPECT_EQ(ReadAll(root_ + "/at2/files/a/c/r2/two.txt"), two);
  auto latest = RestoreTo(a, root_ + "/latest");
  ASSERT_TRUE(latest.ok()) << latest.error().message;
  EXPECT_EQ(latest->index, 3u);
  EXPECT_FALSE(fs::exists(root_ + "/latest/files/a/c/r1/one.txt"));
  EXPECT_EQ(ReadAll(root_ + "/latest/files/a/c/r2/two.txt"), two);
}

TEST_F(UploaderTargetTest, ARestoreToAMomentAfterTheLastEntryUpToTheMarkIsThatEntrysState) {
  Commit(1, 3);  // committed in 2025: long before now
  const std::string a = root_ + "/a";
  auto up = MakeFor(a);
  ASSERT_TRUE(up->RunOnce().ok());
  const int64_t now = WallNowMicros();
  s3::LocalDirStore t(a);
  auto listed = t.List("");
  ASSERT_TRUE(listed.ok());
  BackupView v = ReadListing(*listed);
  ASSERT_EQ(v.generations.size(), 1u);
  EXPECT_EQ(v.generations[0].caught_up_index, 3u);
  EXPECT_GT(v.generations[0].caught_up_us, now - 5'000'000);
  EXPECT_LE(v.generations[0].caught_up_us, now - 1'000'000);  // the slack
  s3::LocalDirStore target(a);
  RestoreOptions o;
  o.data_dir = root_ + "/at";
  o.target = {RestoreTarget::kTime, 0, now - 2'000'000};
  auto r = Restore(target, o);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->index, 3u);
  EXPECT_EQ(RowsIn(root_ + "/at"), 3);
  // A new run's first mark replaces the last run's (one mark per generation).
  Commit(4, 4);
  ASSERT_TRUE(MakeFor(a)->RunOnce().ok());
  int marks = 0;
  auto again = t.List("");
  ASSERT_TRUE(again.ok());
  for (const auto& obj : *again) marks += obj.key.find("/caught-up/") != std::string::npos;
  EXPECT_EQ(marks, 1);
  EXPECT_EQ(ReadListing(*again).generations[0].caught_up_index, 4u);
}

// A power loss took entries 4 and 5 from the log and the database after they
// were uploaded; the new generation reuses both indexes, and the target
// fails right after its generation record. Every entry of it still goes up.
TEST_F(UploaderTargetTest, ANewGenerationReusingSeveralIndexesShipsThemAll) {
  Commit(1, 3);
  const uint64_t lost_at = log_->end();
  Commit(4, 5);
  FlakyStore* store = nullptr;
  auto up = Make(&store);
  ASSERT_TRUE(up->RunOnce().ok());
  EXPECT_EQ(up->stats().uploaded_index, 5u);
  log_->TruncateTo(lost_at);
  ASSERT_TRUE(
      db_->Exec("DELETE FROM t WHERE id > 3; UPDATE _hearth_stream SET last_index = 3").ok());
  log_->Break("the backup holds entries the log lost");
  Commit(4, 6);
  store->segments_down = true;
  EXPECT_FALSE(up->RunOnce().ok());  // the generation record went up, its segment did not
  store->segments_down = false;
  ASSERT_TRUE(up->RunOnce().ok());
  EXPECT_EQ(UploadedIndexes(), (std::vector<uint64_t>{1, 2, 3, 4, 5, 4, 5, 6}));
  auto r = RestoreTo(root_ + "/target", root_ + "/latest");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->index, 6u);
  EXPECT_EQ(RowsIn(root_ + "/latest"), 6);
}

TEST_F(UploaderTargetTest, ACopyThatDisagreesWithItsManifestIsRefused) {
  Commit(1, 3);
  const std::string a = root_ + "/a";
  ASSERT_TRUE(MakeFor(a)->RunOnce().ok());
  // Rewrite the manifest so it says hearth.db holds less than it does.
  s3::LocalDirStore t(a);
  auto list = t.List("");
  ASSERT_TRUE(list.ok());
  std::string key;
  for (const auto& o : *list)
    if (o.key.size() > 13 && o.key.substr(o.key.size() - 13) == "manifest.json") key = o.key;
  ASSERT_FALSE(key.empty());
  auto text = t.Get(key);
  ASSERT_TRUE(text.ok());
  std::string m = *text;
  const std::string from = "\"last_index\": 3";
  ASSERT_NE(m.find(from), std::string::npos) << m;
  m.replace(m.find(from), from.size(), "\"last_index\": 2");
  ASSERT_TRUE(t.Put(key, m).ok());
  auto r = RestoreTo(a, root_ + "/bad");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("holds entries through 3, its manifest says 2"),
            std::string::npos)
      << r.error().message;
  EXPECT_FALSE(fs::exists(root_ + "/bad"));
}

}  // namespace
}  // namespace hearth::stream
