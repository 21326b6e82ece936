// The streaming backup's uploader (stream/uploader.h) against a local-folder
// target: what it puts (marker, generation record, L0 segments holding
// exactly the log's committed entries, a snapshot whose manifest comes
// last), that it resumes from its cursor, that a failing target costs
// nothing but lag and is caught up, and that local files go once uploaded.
#include "stream/uploader.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>

#include "base/log.h"
#include "crypto/hash.h"
#include "s3/local_dir_store.h"
#include "store/sqlite.h"
#include "stream/backup_view.h"
#include "stream/restore.h"

namespace hearth::stream {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// A target that fails on demand (the network is down) and counts puts.
class FlakyStore : public s3::ObjectStore {
 public:
  explicit FlakyStore(std::string root) : inner_(std::move(root)) {}
  std::atomic<bool> down{false};
  std::atomic<int> puts{0};
  Status Put(std::string_view key, std::string_view bytes) override {
    if (down) return Error{"S3 refused PutObject on b/" + std::string(key) + ": SlowDown (503)"};
    puts++;
    return inner_.Put(key, bytes);
  }
  Status PutFile(std::string_view key, const std::string& path) override {
    if (down) return Error{"S3 refused PutObject on b/" + std::string(key) + ": SlowDown (503)"};
    puts++;
    return inner_.PutFile(key, path);
  }
  Result<std::string> Get(std::string_view key) override { return inner_.Get(key); }
  Status GetToFile(std::string_view key, const std::string& path) override {
    return inner_.GetToFile(key, path);
  }
  Result<std::optional<s3::ObjectInfo>> Head(std::string_view key) override {
    if (down) return Error{"S3 refused HeadObject: SlowDown (503)"};
    return inner_.Head(key);
  }
  Result<std::vector<s3::ObjectInfo>> List(std::string_view prefix) override {
    return inner_.List(prefix);
  }
  Status Delete(std::string_view key) override { return inner_.Delete(key); }
  std::string Describe() const override { return "flaky"; }

 private:
  s3::LocalDirStore inner_;
};

class UploaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SetLogLevel(LogLevel::kError);
    char tmpl[] = "/tmp/hearth-uploader-XXXXXX";
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
  }
  void TearDown() override {
    db_.reset();
    log_.reset();
    fs::remove_all(root_);
  }

  // Entries first..last "committed": appended, marked, durable, and the
  // database says it holds them (as a writer's transaction would).
  void Commit(uint64_t first, uint64_t last, size_t payload = 40) {
    for (uint64_t i = first; i <= last; ++i) {
      store::EntryView e;
      e.kind = store::EntryKind::kWrites;
      e.index = i;
      e.generation = log_->Generation();
      e.commit_time_us = 1765101600000000 + static_cast<int64_t>(i) * 1000;
      e.database = "hearth.db";
      const std::string sql =
          "INSERT INTO t VALUES (" + std::to_string(i) + ", '" + std::string(payload, 'x') + "')";
      e.ops.push_back({store::OpKind::kDdl, sql});  // a view: `sql` outlives the encoding
      auto bytes = store::EncodeEntry(e);
      ASSERT_TRUE(bytes.ok());
      auto off = log_->Append(*bytes);
      ASSERT_TRUE(off.ok());
      ASSERT_TRUE(db_->Exec("INSERT INTO t VALUES (" + std::to_string(i) +
                            ", 'x');"
                            "UPDATE _hearth_stream SET last_index = " +
                            std::to_string(i) + ", last_time = " + std::to_string(e.commit_time_us))
                      .ok());
      log_->MarkCommitted(*off + bytes->size());
      ASSERT_TRUE(log_->WaitDurable(*off + bytes->size(), 5s));
    }
  }

  std::unique_ptr<Uploader> Make(FlakyStore** store = nullptr, uint64_t max_segment = 16 << 20) {
    auto target = std::make_unique<FlakyStore>(root_ + "/target");
    if (store) *store = target.get();
    UploaderOptions o;
    o.data_dir = data_;
    o.node_id = 42;
    o.hearth_version = "test";
    o.max_segment_bytes = max_segment;
    return std::make_unique<Uploader>(log_.get(), std::move(target), o);
  }

  BackupView View() {
    s3::LocalDirStore t(root_ + "/target");
    auto list = t.List("");
    EXPECT_TRUE(list.ok());
    return ReadListing(list.ok() ? *list : std::vector<s3::ObjectInfo>{});
  }

  // Every entry index the target's segments hold, in order, each segment
  // opened and checked.
  std::vector<uint64_t> UploadedIndexes() {
    s3::LocalDirStore t(root_ + "/target");
    std::vector<uint64_t> out;
    for (const auto& g : View().generations)
      for (const auto& s : g.segments) {
        auto object = t.Get(s.key);
        EXPECT_TRUE(object.ok());
        auto seg = OpenSegment(*object, s.name);
        EXPECT_TRUE(seg.ok()) << s.key << ": " << (seg.ok() ? "" : seg.error().message);
        if (!seg.ok()) continue;
        for (auto e : seg->entries) out.push_back(store::DecodeEntry(e)->index);
      }
    return out;
  }

  std::string root_, data_;
  std::unique_ptr<LocalLog> log_;
  std::unique_ptr<store::Connection> db_;
};

std::vector<uint64_t> Seq(uint64_t a, uint64_t b) {
  std::vector<uint64_t> v;
  for (uint64_t i = a; i <= b; ++i) v.push_back(i);
  return v;
}

TEST_F(UploaderTest, PutsMarkerGenerationSegmentsAndASnapshot) {
  Commit(1, 5);
  auto up = Make();
  ASSERT_TRUE(up->RunOnce().ok());
  BackupView v = View();
  EXPECT_TRUE(v.marked);
  ASSERT_EQ(v.generations.size(), 1u);
  const GenerationView& g = v.generations[0];
  EXPECT_TRUE(g.has_record);
  EXPECT_EQ(g.parts.id, log_->generation());
  EXPECT_EQ(UploadedIndexes(), Seq(1, 5));
  ASSERT_EQ(g.snapshots.size(), 1u);
  EXPECT_TRUE(g.snapshots[0].complete);
  EXPECT_EQ(g.snapshots[0].index, 5u);
  // The manifest names a copy that is the database as it was.
  s3::LocalDirStore t(root_ + "/target");
  auto text = t.Get(SnapshotManifestKey(g.snapshots[0].folder));
  ASSERT_TRUE(text.ok());
  auto m = DecodeManifest(*text);
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_EQ(m->from_index, 5u);
  ASSERT_EQ(m->databases.size(), 1u);
  EXPECT_EQ(m->databases[0].last_index, 5u);
  ASSERT_TRUE(t.GetToFile(m->databases[0].key, root_ + "/copy.zst").ok());
  std::string sha;
  ASSERT_TRUE(DecompressFile(root_ + "/copy.zst", root_ + "/copy.db", 1 << 30, &sha).ok());
  EXPECT_EQ(sha, m->databases[0].sha256);
  auto copy = store::Connection::Open(root_ + "/copy.db", store::Connection::Mode::kReadOnly);
  ASSERT_TRUE(copy.ok());
  auto q = (*copy)->Prepare("SELECT count(*) FROM t");
  Status s = OkStatus();
  ASSERT_TRUE(q->Step(&s));
  EXPECT_EQ(q->Int(0), 5);
  UploaderStats st = up->stats();
  EXPECT_EQ(st.uploaded_index, 5u);
  EXPECT_EQ(st.lag_entries(), 0u);
  EXPECT_EQ(st.snapshots_total, 1u);
  EXPECT_EQ(st.State(1765101600000000), "ok");
}

TEST_F(UploaderTest, ResumesFromItsCursorAndShipsOnlyWhatIsNew) {
  Commit(1, 3);
  {
    auto up = Make();
    ASSERT_TRUE(up->RunOnce().ok());
  }
  Commit(4, 6);
  FlakyStore* store = nullptr;
  auto up = Make(&store);
  ASSERT_TRUE(up->RunOnce().ok());
  EXPECT_EQ(UploadedIndexes(), Seq(1, 6));  // 4-6 once, 1-3 not again
  EXPECT_EQ(store->puts.load(), 2);         // the marker (once per start) and one segment
  ASSERT_TRUE(up->RunOnce().ok());
  EXPECT_EQ(store->puts.load(), 2);  // nothing new: nothing put
}

TEST_F(UploaderTest, SegmentsStayUnderTheirSizeAndAreContiguous) {
  Commit(1, 40, 2000);
  auto up = Make(nullptr, 10000);
  ASSERT_TRUE(up->RunOnce().ok());
  EXPECT_EQ(UploadedIndexes(), Seq(1, 40));
  EXPECT_GE(View().generations[0].segments.size(), 8u);
}

TEST_F(UploaderTest, ATargetThatFailsCostsLagThenCatchesUp) {
  Commit(1, 2);
  FlakyStore* store = nullptr;
  auto up = Make(&store);
  ASSERT_TRUE(up->RunOnce().ok());
  store->down = true;
  Commit(3, 8);
  Status s = up->RunOnce();
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("SlowDown"), std::string::npos);
  UploaderStats st = up->stats();
  EXPECT_EQ(st.failures_total, 1u);
  EXPECT_EQ(st.lag_entries(), 6u);
  EXPECT_NE(st.failing_since_us, 0);
  EXPECT_EQ(st.State(st.failing_since_us + 61000000), "failing");
  EXPECT_NE(st.last_error.find("SlowDown"), std::string::npos);
  store->down = false;
  ASSERT_TRUE(up->RunOnce().ok());
  EXPECT_EQ(UploadedIndexes(), Seq(1, 8));
  st = up->stats();
  EXPECT_EQ(st.lag_entries(), 0u);
  EXPECT_EQ(st.failing_since_us, 0);
  EXPECT_EQ(st.State(st.last_success_us + 61000000), "ok");
}

TEST_F(UploaderTest, ANewGenerationGetsItsOwnRecordAndSnapshot) {
  Commit(1, 3);
  auto up = Make();
  ASSERT_TRUE(up->RunOnce().ok());
  log_->Break("a test");
  Commit(4, 5);
  ASSERT_TRUE(up->RunOnce().ok());
  BackupView v = View();
  ASSERT_EQ(v.generations.size(), 2u);
  for (const auto& g : v.generations) {
    EXPECT_TRUE(g.has_record);
    ASSERT_EQ(g.snapshots.size(), 1u) << g.name;
    EXPECT_TRUE(g.snapshots[0].complete);
  }
  EXPECT_EQ(UploadedIndexes(), Seq(1, 5));
  auto start = ChooseStart(v, {});
  ASSERT_TRUE(start.ok());
  EXPECT_EQ(start->generation->parts.id, log_->generation());
  EXPECT_EQ(start->snapshot.index, 5u);
}

TEST_F(UploaderTest, NoSnapshotWhileABreakIsPendingNorInTheLastPass) {
  Commit(1, 2);
  auto up = Make();
  log_->Break("a test");  // pending until the next entry
  ASSERT_TRUE(up->RunOnce().ok());
  EXPECT_EQ(up->stats().snapshots_total, 0u);
  EXPECT_EQ(UploadedIndexes(), Seq(1, 2));
  Commit(3, 3);  // the new generation: its snapshot, but not in a last pass
  ASSERT_TRUE(up->RunOnce(/*last=*/true).ok());
  EXPECT_EQ(up->stats().snapshots_total, 0u);
  EXPECT_EQ(UploadedIndexes(), Seq(1, 3));
  ASSERT_TRUE(up->RunOnce().ok());
  EXPECT_EQ(up->stats().snapshots_total, 1u);
}

// The log lost an uploaded entry (a power loss took a commit the database
// lost too): the changes service starts a new generation, whose entries
// reuse the lost indexes; they go up, in the new generation, not skipped.
TEST_F(UploaderTest, ANewGenerationReusingUploadedIndexesIsShipped) {
  Commit(1, 4);
  const uint64_t lost_at = log_->end();
  Commit(5, 5);
  auto up = Make();
  ASSERT_TRUE(up->RunOnce().ok());
  EXPECT_EQ(up->stats().uploaded_index, 5u);
  log_->TruncateTo(lost_at);  // entry 5 gone from the log
  ASSERT_TRUE(
      db_->Exec("DELETE FROM t WHERE id = 5; UPDATE _hearth_stream SET last_index = 4").ok());
  UploadedPosition pos = ReadUploadedPosition(data_ + "/log");
  EXPECT_EQ(pos.index, 5u);
  EXPECT_EQ(pos.generation, log_->generation());
  log_->Break("the backup holds entries the log lost");  // what the changes service does
  Commit(5, 6);
  ASSERT_TRUE(up->RunOnce().ok());
  BackupView v = View();
  ASSERT_EQ(v.generations.size(), 2u);
  EXPECT_EQ(UploadedIndexes(), (std::vector<uint64_t>{1, 2, 3, 4, 5, 5, 6}));
  auto start = ChooseStart(v, {});
  ASSERT_TRUE(start.ok()) << start.error().message;
  EXPECT_EQ(start->generation->parts.id, log_->generation());
}

TEST_F(UploaderTest, LocalFilesGoOnceUploaded) {
  // Small log files, so several are rolled and can go.
  log_.reset();
  fs::remove_all(data_ + "/log");
  LogOptions lo;
  lo.segment_bytes = 4096;
  auto log = LocalLog::Open(data_ + "/log", lo);
  ASSERT_TRUE(log.ok());
  log_ = std::move(log).value();
  Commit(1, 30, 500);
  size_t before =
      std::distance(fs::directory_iterator(data_ + "/log/wal"), fs::directory_iterator());
  ASSERT_GT(before, 2u);
  auto up = Make();
  ASSERT_TRUE(up->RunOnce().ok());
  size_t after =
      std::distance(fs::directory_iterator(data_ + "/log/wal"), fs::directory_iterator());
  EXPECT_EQ(after, 1u);  // the file being appended to stays
  EXPECT_EQ(UploadedIndexes(), Seq(1, 30));
}

// Rows of table t in a restored hearth.db.
int64_t RowsIn(const std::string& data) {
  auto c = store::Connection::Open(data + "/hearth.db", store::Connection::Mode::kReadOnly);
  if (!c.ok()) return -1;
  auto q = (*c)->Prepare("SELECT count(*) FROM t");
  Status s = OkStatus();
  return q.ok() && q->Step(&s) ? q->Int(0) : -1;
}

// Restore (stream/restore.h) from what the uploader put: the snapshot, then
// the entries after it, to the latest or to an index; and what it refuses.
TEST_F(UploaderTest, RestoreReplaysTheEntriesAfterTheSnapshot) {
  Commit(1, 3);
  auto up = Make();
  ASSERT_TRUE(up->RunOnce().ok());  // the snapshot holds 1-3
  Commit(4, 6);
  ASSERT_TRUE(up->RunOnce().ok());  // 4-6 as a segment only
  s3::LocalDirStore target(root_ + "/target");
  RestoreOptions o;
  o.data_dir = root_ + "/latest";
  auto r = Restore(target, o);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->snapshot_index, 3u);
  EXPECT_EQ(r->index, 6u);
  EXPECT_GE(r->entries, 3u);  // 4-6 (and 3 again, a no-op: the copy holds it)
  EXPECT_EQ(RowsIn(root_ + "/latest"), 6);
  EXPECT_FALSE(fs::exists(root_ + "/latest.restoring"));

  o.data_dir = root_ + "/five";
  o.target = {RestoreTarget::kIndex, 5, 0};
  r = Restore(target, o);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(RowsIn(root_ + "/five"), 5);

  // A folder with something in it: refused; with force, moved aside.
  o.target = {};
  auto again = Restore(target, o);
  ASSERT_FALSE(again.ok());
  EXPECT_NE(again.error().message.find("is not empty"), std::string::npos);
  o.force = true;
  again = Restore(target, o);
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_FALSE(again->moved_aside.empty());
  EXPECT_EQ(RowsIn(again->moved_aside), 5);
  EXPECT_EQ(RowsIn(root_ + "/five"), 6);
}

TEST_F(UploaderTest, RestoreRefusesAManifestPointingOutsideItsSnapshot) {
  Commit(1, 2);
  auto up = Make();
  ASSERT_TRUE(up->RunOnce().ok());
  s3::LocalDirStore target(root_ + "/target");
  BackupView v = View();
  const std::string key = SnapshotManifestKey(v.generations[0].snapshots[0].folder);
  auto m = DecodeManifest(*target.Get(key));
  ASSERT_TRUE(m.ok());
  // Another object of the bucket, by a key the manifest should not name.
  ASSERT_TRUE(target.Put("elsewhere.zst", *target.Get(m->databases[0].key)).ok());
  m->databases[0].key = "elsewhere.zst";
  ASSERT_TRUE(target.Put(key, EncodeManifest(*m)).ok());
  RestoreOptions o;
  o.data_dir = root_ + "/r";
  auto r = Restore(target, o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("outside its snapshot"), std::string::npos) << r.error().message;
  EXPECT_FALSE(fs::exists(root_ + "/r"));
  EXPECT_FALSE(fs::exists(root_ + "/r.restoring"));
}

TEST_F(UploaderTest, RestoreRefusesASegmentOfAnotherGeneration) {
  Commit(1, 2);
  auto up = Make();
  ASSERT_TRUE(up->RunOnce().ok());
  Commit(3, 4);
  ASSERT_TRUE(up->RunOnce().ok());
  // A segment with the same name, built with another generation id.
  BackupView v = View();
  const SegmentRef& last = v.generations[0].segments.back();
  SegmentBuilder b(0, log_->generation() + 1);
  for (uint64_t i = last.name.first; i <= last.name.last; ++i) {
    store::EntryView e;
    e.kind = store::EntryKind::kWrites;
    e.index = i;
    e.generation = log_->generation() + 1;
    e.commit_time_us = 1765101600000000 + static_cast<int64_t>(i) * 1000;
    e.database = "hearth.db";
    const std::string sql = "INSERT INTO t VALUES (" + std::to_string(i + 100) + ", 'x')";
    e.ops.push_back({store::OpKind::kDdl, sql});
    auto bytes = store::EncodeEntry(e);
    ASSERT_TRUE(bytes.ok());
    ASSERT_TRUE(b.Add(*store::DecodeEntry(*bytes), *bytes).ok());
  }
  s3::LocalDirStore target(root_ + "/target");
  ASSERT_TRUE(target.Put(last.key, *b.Finish(3)).ok());
  RestoreOptions o;
  o.data_dir = root_ + "/r";
  auto r = Restore(target, o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("another generation"), std::string::npos) << r.error().message;
}

// A bytes source holding one blob, or none.
class OneBlob : public store::BytesSource {
 public:
  std::string hash_hex, bytes;
  bool gone = false;
  Result<std::string> Blob(std::string_view hash, std::string_view) override {
    if (gone || hash != hash_hex) return Error{"no such blob"};
    return bytes;
  }
  Result<std::string> File(std::string_view, std::string_view) override {
    return Error{"no files"};
  }
};

TEST_F(UploaderTest, TheBytesAnEntryNamesGoUpOnceBeforeItsSegment) {
  const std::string content = "the bytes of a deployed file";
  const std::string sha_raw = crypto::Sha256Digest(content);
  const std::string sha_hex = crypto::Sha256Hex(content);
  auto commit_put = [&](uint64_t index) {
    store::EntryView e;
    e.kind = store::EntryKind::kWrites;
    e.index = index;
    e.generation = log_->Generation();
    e.commit_time_us = 1765101600000000 + static_cast<int64_t>(index);
    e.database = "hearth.db";
    store::BlobPutOp put;
    put.size = content.size();
    put.hash = sha_raw;
    put.sha256 = sha_raw;
    auto payload = store::EncodeBlobPut(put);
    ASSERT_TRUE(payload.ok()) << payload.error().message;
    e.ops.push_back({store::OpKind::kBlobPut, *payload});
    auto bytes = store::EncodeEntry(e);
    ASSERT_TRUE(bytes.ok()) << bytes.error().message;
    auto off = log_->Append(*bytes);
    ASSERT_TRUE(off.ok());
    ASSERT_TRUE(db_->Exec("UPDATE _hearth_stream SET last_index = " + std::to_string(index)).ok());
    log_->MarkCommitted(*off + bytes->size());
    ASSERT_TRUE(log_->WaitDurable(*off + bytes->size(), 5s));
  };
  auto source = std::make_shared<OneBlob>();
  source->hash_hex = sha_hex;
  source->bytes = content;
  auto target = std::make_unique<FlakyStore>(root_ + "/target");
  UploaderOptions o;
  o.data_dir = data_;
  o.bytes = source;
  Uploader up(log_.get(), std::move(target), o);
  commit_put(1);
  commit_put(2);  // the same content again: not put twice
  ASSERT_TRUE(up.RunOnce().ok());
  s3::LocalDirStore t(root_ + "/target");
  auto got = t.Get(BytesKey(sha_hex));
  ASSERT_TRUE(got.ok()) << got.error().message;
  EXPECT_EQ(*got, content);
  EXPECT_EQ(up.stats().bytes_objects_total, 1u);
  EXPECT_EQ(UploadedIndexes(), Seq(1, 2));
  // Content already up is not read again, even once gone from the source.
  source->gone = true;
  commit_put(3);
  ASSERT_TRUE(up.RunOnce().ok());
  EXPECT_EQ(up.stats().bytes_missing_total, 0u);  // the same content: already up
  EXPECT_FALSE(log_->broken());
}

TEST_F(UploaderTest, BytesGoneBeforeUploadStartANewGeneration) {
  const std::string content = "collected before upload";
  const std::string sha_raw = crypto::Sha256Digest(content);
  store::EntryView e;
  e.kind = store::EntryKind::kWrites;
  e.index = 1;
  e.generation = log_->Generation();
  e.commit_time_us = 1765101600000000;
  e.database = "hearth.db";
  store::BlobPutOp put;
  put.size = content.size();
  put.hash = sha_raw;
  put.sha256 = sha_raw;
  auto payload = store::EncodeBlobPut(put);
  ASSERT_TRUE(payload.ok());
  e.ops.push_back({store::OpKind::kBlobPut, *payload});
  auto bytes = store::EncodeEntry(e);
  ASSERT_TRUE(bytes.ok());
  auto off = log_->Append(*bytes);
  ASSERT_TRUE(off.ok());
  log_->MarkCommitted(*off + bytes->size());
  ASSERT_TRUE(log_->WaitDurable(*off + bytes->size(), 5s));
  auto source = std::make_shared<OneBlob>();
  source->gone = true;
  UploaderOptions o;
  o.data_dir = data_;
  o.bytes = source;
  Uploader up(log_.get(), std::make_unique<FlakyStore>(root_ + "/target"), o);
  ASSERT_TRUE(up.RunOnce().ok());
  EXPECT_EQ(up.stats().bytes_missing_total, 1u);
  EXPECT_TRUE(log_->broken());
  EXPECT_EQ(UploadedIndexes(), Seq(1, 1));
}

}  // namespace
}  // namespace hearth::stream
