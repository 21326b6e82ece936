#pragma once
// The uploader tests' fixture (uploader_test.cpp, uploader_target_test.cpp):
// a data folder with a hearth.db whose entries are made by hand and
// "committed" into a real local log, and a local-folder target that can be
// made to fail.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>

#include "base/log.h"
#include "s3/local_dir_store.h"
#include "store/sqlite.h"
#include "stream/backup_view.h"
#include "stream/segment.h"
#include "stream/uploader.h"

namespace hearth::stream {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// A target that fails on demand (the network is down) and counts puts.
class FlakyStore : public s3::ObjectStore {
 public:
  explicit FlakyStore(std::string root) : inner_(std::move(root)) {}
  std::atomic<bool> down{false};
  std::atomic<bool> segments_down{false};  // only segment puts fail
  std::atomic<int> puts{0};
  std::atomic<bool> list_shows_marker{true};
  Status Put(std::string_view key, std::string_view bytes) override {
    if (down || (segments_down && key.find("/segments/") != std::string_view::npos))
      return Error{"S3 refused PutObject on b/" + std::string(key) + ": SlowDown (503)"};
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
    auto listed = inner_.List(prefix);
    if (listed.ok() && !list_shows_marker)  // a listing that lags (eventual consistency)
      std::erase_if(*listed, [](const s3::ObjectInfo& o) { return o.key == "hearth-backup.json"; });
    return listed;
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

inline std::vector<uint64_t> Seq(uint64_t a, uint64_t b) {
  std::vector<uint64_t> v;
  for (uint64_t i = a; i <= b; ++i) v.push_back(i);
  return v;
}

inline int64_t RowsIn(const std::string& data) {
  auto c = store::Connection::Open(data + "/hearth.db", store::Connection::Mode::kReadOnly);
  if (!c.ok()) return -1;
  auto q = (*c)->Prepare("SELECT count(*) FROM t");
  Status s = OkStatus();
  return q.ok() && q->Step(&s) ? q->Int(0) : -1;
}

}  // namespace hearth::stream
