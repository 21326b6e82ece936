// Bytes in the change stream: deploy blobs (hearth.db's blobs and
// blob_variants, written only through Connection's byte helpers), record
// files and new databases become blob, file and create-database ops; a copy
// that applies them with the bytes from a source (checked against their
// SHA-256) holds the same rows, the same bytes and the same files.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>

#include "crypto/hash.h"
#include "store/apply_bytes.h"
#include "store/control_schema.h"
#include "store/digest.h"
#include "store/durable_file.h"
#include "store/entry.h"
#include "store/image.h"
#include "store/store.h"

namespace hearth::store {
namespace {

class ListSink : public EntrySink {
 public:
  Result<uint64_t> Append(std::string_view entry) override {
    std::lock_guard<std::mutex> lock(mu_);
    entries.emplace_back(entry);
    return uint64_t{0};
  }
  void TruncateTo(uint64_t) override {
    std::lock_guard<std::mutex> lock(mu_);
    entries.pop_back();
  }
  void Break(const std::string& why) override { FAIL() << "stream broke: " << why; }
  std::vector<std::string> entries;

 private:
  std::mutex mu_;
};

// Bytes by name, as a test hands them out (and can tamper with them).
class MapSource : public BytesSource {
 public:
  Result<std::string> Blob(std::string_view hash, std::string_view encoding) override {
    auto it = blobs.find(std::string(hash) + "/" + std::string(encoding));
    if (it == blobs.end()) return Error{"no such blob"};
    return it->second;
  }
  Result<std::string> File(std::string_view database, std::string_view path) override {
    auto it = files.find(std::string(database) + ":" + std::string(path));
    if (it == files.end()) return Error{"no such file"};
    return it->second;
  }
  std::map<std::string, std::string> blobs, files;
};

const std::vector<Migration> kAppMigrations = {
    {1, "CREATE TABLE docs (id TEXT PRIMARY KEY NOT NULL, file TEXT NOT NULL DEFAULT '');"},
};

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

class ByteOpsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/hearth-byteops-XXXXXX";
    dir_ = mkdtemp(tmpl);
    stream_ = std::make_shared<StreamContext>();
    stream_->sequencer = &sequencer_;
    stream_->sink = &sink_;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<Store> OpenControl(const std::string& file, bool stream) {
    Store::Options o;
    o.path = dir_ + "/" + file;
    o.migrations = ControlMigrations();
    o.statements = ControlStatements();
    o.connection_setup = ControlConnectionSetup();
    o.name = "hearth.db";
    o.uncaptured = {"blobs", "blob_variants"};
    if (stream) o.stream = stream_;
    auto s = Store::Open(std::move(o));
    EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().message);
    return s.ok() ? std::move(s).value() : nullptr;
  }
  std::unique_ptr<Store> OpenApp(const std::string& file, bool stream, bool announce = false) {
    Store::Options o;
    o.path = dir_ + "/" + file;
    o.migrations = kAppMigrations;
    o.name = "apps/shop.db";
    o.announce = announce;
    if (stream) o.stream = stream_;
    auto s = Store::Open(std::move(o));
    EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().message);
    return s.ok() ? std::move(s).value() : nullptr;
  }
  // The origin and a copy of where it started (closed first: whole files).
  template <typename OpenFn>
  void MakePair(OpenFn open) {
    origin_ = open("origin.db", true);
    origin_.reset();
    std::filesystem::copy_file(dir_ + "/origin.db", dir_ + "/copy.db");
    origin_ = open("origin.db", true);
    copy_ = open("copy.db", false);
    ASSERT_TRUE(origin_ && copy_);
  }
  Status PutBlob(const std::string& data, std::vector<std::pair<std::string, std::string>> variants,
                 bool* was_new = nullptr) {
    std::string hash = crypto::Sha256Hex(data);
    return origin_->Write([&](Connection& c) -> Status {
      auto put = c.PutBlob(hash, data.size(), [&](uint64_t off, char* buf, size_t n) {
        std::memcpy(buf, data.data() + off, n);
        return OkStatus();
      });
      if (!put.ok()) return put.error();
      if (was_new) *was_new = *put;
      for (const auto& [enc, bytes] : variants)
        if (auto v = c.PutBlobVariant(hash, enc, bytes); !v.ok()) return v.error();
      return OkStatus();
    });
  }
  Status Sweep(const std::string& data, int* deleted = nullptr) {
    std::string hash = crypto::Sha256Hex(data);
    return origin_->Write([&](Connection& c) -> Status {
      auto gc = c.Prepare("INSERT INTO temp.gc(hash) VALUES (?1)");
      if (!gc.ok()) return gc.error();
      if (Status s = gc->Bind(1, hash).Run(); !s.ok()) return s;
      auto n = c.DeleteCollectedBlobs();
      if (!n.ok()) return n.error();
      if (deleted) *deleted = *n;
      return OkStatus();
    });
  }
  std::string DigestOf(Store& s) {
    auto d = Digest(s.Reader(0));
    EXPECT_TRUE(d.ok()) << d.error().message;
    return d.ok() ? *d : "";
  }
  Status ApplyAll(Store& to, const ApplyOptions& options, size_t from = 0) {
    for (size_t i = from; i < sink_.entries.size(); ++i)
      if (Status s = to.Apply(std::make_shared<const std::string>(sink_.entries[i]), options);
          !s.ok())
        return s;
    return OkStatus();
  }
  EntryView Entry(size_t i) {
    auto d = DecodeEntry(sink_.entries.at(i));
    EXPECT_TRUE(d.ok()) << d.error().message;
    return *d;
  }
  static std::string Why(const Status& s) { return s.ok() ? "" : s.error().message; }

  std::string dir_;
  Sequencer sequencer_{1, 0};
  ListSink sink_;
  std::shared_ptr<StreamContext> stream_;
  std::unique_ptr<Store> origin_, copy_;
};

TEST_F(ByteOpsTest, BlobHelpersRecordBlobOps) {
  MakePair([this](const std::string& f, bool s) { return OpenControl(f, s); });
  const std::string data = "<h1>hello</h1>", br = "compressed";
  bool was_new = false;
  ASSERT_TRUE(PutBlob(data, {{"br", br}}, &was_new).ok());
  EXPECT_TRUE(was_new);
  ASSERT_EQ(sink_.entries.size(), 1u);
  EntryView e = Entry(0);
  ASSERT_EQ(e.ops.size(), 2u);
  ASSERT_EQ(e.ops[0].kind, OpKind::kBlobPut);
  auto put = DecodeBlobPut(e.ops[0].payload);
  ASSERT_TRUE(put.ok());
  EXPECT_EQ(put->size, data.size());
  EXPECT_EQ(put->hash, crypto::Sha256Digest(data));
  EXPECT_EQ(put->sha256, put->hash);
  EXPECT_EQ(put->encoding, "");
  EXPECT_GT(put->created_at, 0);
  auto var = DecodeBlobPut(e.ops[1].payload);
  ASSERT_TRUE(var.ok());
  EXPECT_EQ(var->encoding, "br");
  EXPECT_EQ(var->hash, crypto::Sha256Digest(data));
  EXPECT_EQ(var->sha256, crypto::Sha256Digest(br));  // the variant's own bytes
  EXPECT_EQ(var->size, br.size());
  // Stored already: nothing changes, no entry.
  ASSERT_TRUE(PutBlob(data, {{"br", br}}, &was_new).ok());
  EXPECT_FALSE(was_new);
  EXPECT_EQ(sink_.entries.size(), 1u);
  // Collected: a delete op per row (variant first), named by hash and encoding.
  int deleted = 0;
  ASSERT_TRUE(Sweep(data, &deleted).ok());
  EXPECT_EQ(deleted, 2);
  ASSERT_EQ(sink_.entries.size(), 2u);
  e = Entry(1);
  ASSERT_EQ(e.ops.size(), 2u);
  auto d0 = DecodeBlobDelete(e.ops[0].payload);
  auto d1 = DecodeBlobDelete(e.ops[1].payload);
  ASSERT_TRUE(d0.ok() && d1.ok());
  EXPECT_EQ(d0->encoding, "br");
  EXPECT_EQ(d1->encoding, "");
  EXPECT_EQ(d1->hash, crypto::Sha256Digest(data));
  // A blob a version file still names is not collected.
  ASSERT_TRUE(PutBlob("kept", {}).ok());
  ASSERT_TRUE(
      origin_
          ->Write([](Connection& c) {
            return c.Exec(
                "INSERT INTO sites(id, name, created_at) VALUES (1, 's', 0);"
                "INSERT INTO versions(id, site_id, state, files, bytes, created_at) "
                "VALUES (1, 1, 'pending', 1, 4, 0);"
                "INSERT INTO version_files(version_id, path, hash, size) VALUES (1, 'k', '" +
                crypto::Sha256Hex("kept") + "', 4)");
          })
          .ok());
  ASSERT_TRUE(Sweep("kept", &deleted).ok());
  EXPECT_EQ(deleted, 0);
}

// A failed write's blob and file ops go with it.
TEST_F(ByteOpsTest, ARolledBackWriteLeavesNoByteOps) {
  MakePair([this](const std::string& f, bool s) { return OpenControl(f, s); });
  Status failed = origin_->Write([](Connection& c) -> Status {
    auto put = c.PutBlob(crypto::Sha256Hex("x"), 1, [](uint64_t, char* buf, size_t) {
      buf[0] = 'x';
      return OkStatus();
    });
    if (!put.ok()) return put.error();
    if (Status s = c.RecordFileDelete("pbc_1/r1/a.txt"); !s.ok()) return s;
    return Error{"refused"};
  });
  EXPECT_FALSE(failed.ok());
  EXPECT_TRUE(sink_.entries.empty());
  EXPECT_EQ(DigestOf(*origin_), DigestOf(*copy_));
}

// The copy gets the rows and, from the source, the bytes: equal digests
// (blob bytes are part of hearth.db's). A second apply changes nothing.
TEST_F(ByteOpsTest, AppliedBlobOpsGiveTheSameBytes) {
  MakePair([this](const std::string& f, bool s) { return OpenControl(f, s); });
  const std::string a(300000, 'a'), b = "bee";
  ASSERT_TRUE(PutBlob(a, {{"gzip", "ga"}, {"br", "ba"}}).ok());
  ASSERT_TRUE(PutBlob(b, {}).ok());
  ASSERT_TRUE(Sweep(a).ok());
  auto source = std::make_shared<MapSource>();
  source->blobs[crypto::Sha256Hex(a) + "/"] = a;
  source->blobs[crypto::Sha256Hex(a) + "/gzip"] = "ga";
  source->blobs[crypto::Sha256Hex(a) + "/br"] = "ba";
  source->blobs[crypto::Sha256Hex(b) + "/"] = b;
  ApplyOptions inline_bytes;
  inline_bytes.source = source;
  // The first two entries, then compare before the sweep.
  Status applied =
      copy_->Apply(std::make_shared<const std::string>(sink_.entries[0]), inline_bytes);
  ASSERT_TRUE(applied.ok()) << Why(applied);
  auto q = copy_->Reader(0).Prepare("SELECT data FROM blob_variants WHERE encoding = 'br'");
  Status st = OkStatus();
  ASSERT_TRUE(q->Step(&st));
  EXPECT_EQ(q->Blob(0), "ba");
  q->Reset();
  applied = ApplyAll(*copy_, inline_bytes, 1);
  ASSERT_TRUE(applied.ok()) << Why(applied);
  EXPECT_EQ(DigestOf(*origin_), DigestOf(*copy_));
  applied = ApplyAll(*copy_, inline_bytes);
  ASSERT_TRUE(applied.ok()) << Why(applied);
  EXPECT_EQ(DigestOf(*origin_), DigestOf(*copy_));
}

// Deleting a blob the copy does not hold is divergence, like a missing row.
TEST_F(ByteOpsTest, DeletingAMissingBlobIsDivergence) {
  MakePair([this](const std::string& f, bool s) { return OpenControl(f, s); });
  ASSERT_TRUE(PutBlob("abc", {}).ok());
  ASSERT_TRUE(Sweep("abc").ok());
  Status s = copy_->Apply(std::make_shared<const std::string>(sink_.entries[1]));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(Why(s), "divergence at entry 2 (hearth.db): blob " + crypto::Sha256Hex("abc") +
                        " is missing (NOTFOUND)");
  EXPECT_EQ(copy_->last_index(), 0u);
}

// Bytes that are not what the op names (a tampered or wrong source) refuse
// the entry: nothing of it is applied.
TEST_F(ByteOpsTest, BytesThatDoNotMatchTheirHashAreRefused) {
  MakePair([this](const std::string& f, bool s) { return OpenControl(f, s); });
  const std::string data = "the real bytes";
  ASSERT_TRUE(PutBlob(data, {{"zstd", "z"}}).ok());
  const std::string before = DigestOf(*copy_);
  auto source = std::make_shared<MapSource>();
  source->blobs[crypto::Sha256Hex(data) + "/"] = "the fake bytes";  // same size
  source->blobs[crypto::Sha256Hex(data) + "/zstd"] = "z";
  ApplyOptions options;
  options.source = source;
  Status s = ApplyAll(*copy_, options);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(Why(s), "entry 1 (hearth.db): the bytes of " + crypto::Sha256Hex(data) +
                        " do not match the SHA-256 the entry names");
  EXPECT_EQ(DigestOf(*copy_), before);
  EXPECT_EQ(copy_->last_index(), 0u);
  // The right original but a wrong variant: refused too.
  source->blobs[crypto::Sha256Hex(data) + "/"] = data;
  source->blobs[crypto::Sha256Hex(data) + "/zstd"] = "y";
  s = ApplyAll(*copy_, options);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(Why(s).find("(zstd) do not match"), std::string::npos) << Why(s);
  // No source at all: refused, not applied without bytes.
  s = ApplyAll(*copy_, ApplyOptions{});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(Why(s).find("no bytes source"), std::string::npos) << Why(s);
  EXPECT_EQ(copy_->last_index(), 0u);
}

// Deferred bytes (restore): rows of the right size now, bytes listed.
TEST_F(ByteOpsTest, DeferredBytesAreListedNotFetched) {
  MakePair([this](const std::string& f, bool s) { return OpenControl(f, s); });
  ASSERT_TRUE(PutBlob("abc", {}).ok());
  ASSERT_TRUE(Sweep("abc").ok());
  ASSERT_TRUE(PutBlob("defg", {}).ok());
  ApplyOptions deferred;
  deferred.bytes = ApplyOptions::Bytes::kDeferred;
  deferred.deferred = std::make_shared<std::vector<PendingBytes>>();
  Status s = ApplyAll(*copy_, deferred);
  ASSERT_TRUE(s.ok()) << Why(s);
  ASSERT_EQ(deferred.deferred->size(), 3u);
  const PendingBytes& last = deferred.deferred->back();
  EXPECT_EQ(last.index, 3u);
  EXPECT_EQ(last.kind, OpKind::kBlobPut);
  EXPECT_EQ(last.hash, crypto::Sha256Hex("defg"));
  EXPECT_EQ(last.size, 4u);
  EXPECT_EQ((*deferred.deferred)[1].kind, OpKind::kBlobDelete);
  auto q = copy_->Reader(0).Prepare("SELECT size, data FROM blobs");
  Status st = OkStatus();
  ASSERT_TRUE(q->Step(&st));
  EXPECT_EQ(q->Int(0), 4);
  EXPECT_EQ(q->Blob(1), std::string(4, '\0'));
}

// Record files: written durably on the copy before the record commits,
// removed after; a dropped collection's folder goes whole.
TEST_F(ByteOpsTest, AppliedFileOpsGiveTheSameFiles) {
  MakePair([this](const std::string& f, bool s) { return OpenApp(f, s); });
  const std::string from = dir_ + "/files-origin", to = dir_ + "/files-copy";
  auto source = std::make_shared<MapSource>();
  // What the data part does: the file first, then the record and its op.
  auto put = [&](const std::string& path, const std::string& data) {
    EXPECT_TRUE(WriteFileDurably(from + "/" + path, data).ok());
    source->files["apps/shop.db:" + path] = data;
    std::string id = path.substr(path.find('/') + 1, path.rfind('/') - path.find('/') - 1);
    return origin_->Write([=](Connection& c) -> Status {
      if (Status s = c.Exec("INSERT OR REPLACE INTO docs VALUES ('" + id + "', '" + path + "')");
          !s.ok())
        return s;
      return c.RecordFilePut(path, data.size(), crypto::Sha256Digest(data));
    });
  };
  ASSERT_TRUE(put("pbc_1/r1/a_1.txt", "one").ok());
  ASSERT_TRUE(put("pbc_1/r2/b_1.txt", "two").ok());
  ASSERT_TRUE(put("pbc_2/r3/c_1.txt", "three").ok());
  // r1's file replaced; r2 deleted; collection pbc_2 dropped.
  ASSERT_TRUE(put("pbc_1/r1/a_2.txt", "one again").ok());
  ASSERT_EQ(sink_.entries.size(), 4u);
  // A write whose only change is a file op is an entry too.
  ASSERT_TRUE(
      origin_->Write([](Connection& c) { return c.RecordFileDelete("pbc_1/r1/a_1.txt"); }).ok());
  ASSERT_EQ(sink_.entries.size(), 5u);
  RemoveFileAndEmptyFolder(from + "/pbc_1/r1/a_1.txt");
  ASSERT_TRUE(origin_
                  ->Write([](Connection& c) -> Status {
                    if (Status s = c.Exec("DELETE FROM docs WHERE id = 'r2'"); !s.ok()) return s;
                    return c.RecordFileDelete("pbc_1/r2/b_1.txt");
                  })
                  .ok());
  RemoveFileAndEmptyFolder(from + "/pbc_1/r2/b_1.txt");
  ASSERT_TRUE(origin_->Write([](Connection& c) { return c.RecordFileDeleteTree("pbc_2"); }).ok());
  std::filesystem::remove_all(from + "/pbc_2");
  // Paths that are not plain names are refused, never recorded.
  EXPECT_FALSE(
      origin_->Write([](Connection& c) { return c.RecordFileDelete("pbc_1/../../x"); }).ok());
  EXPECT_FALSE(
      origin_->Write([](Connection& c) { return c.RecordFilePut("a/b", 1, std::string(32, 'x')); })
          .ok());

  ApplyOptions options;
  options.source = source;
  options.files_root = to;
  Status s = ApplyAll(*copy_, options);
  ASSERT_TRUE(s.ok()) << Why(s);
  EXPECT_EQ(DigestOf(*origin_), DigestOf(*copy_));
  EXPECT_EQ(*DigestFiles(from), *DigestFiles(to));
  EXPECT_EQ(ReadAll(to + "/pbc_1/r1/a_2.txt"), "one again");
  EXPECT_FALSE(std::filesystem::exists(to + "/pbc_1/r1/a_1.txt"));
  EXPECT_FALSE(std::filesystem::exists(to + "/pbc_1/r2"));  // its emptied folder too
  EXPECT_FALSE(std::filesystem::exists(to + "/pbc_2"));
  // A file whose bytes differ from the op's hash refuses its entry.
  ASSERT_TRUE(put("pbc_1/r9/z_1.txt", "zzz").ok());
  source->files["apps/shop.db:pbc_1/r9/z_1.txt"] = "zzy";
  s = ApplyAll(*copy_, options, sink_.entries.size() - 1);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(Why(s).find("do not match the SHA-256"), std::string::npos) << Why(s);
  EXPECT_FALSE(std::filesystem::exists(to + "/pbc_1/r9/z_1.txt"));
  // Without a files folder, file ops are refused.
  options.files_root.clear();
  source->files["apps/shop.db:pbc_1/r9/z_1.txt"] = "zzz";
  s = ApplyAll(*copy_, options, sink_.entries.size() - 1);
  EXPECT_NE(Why(s).find("no files folder"), std::string::npos) << Why(s);
}

TEST_F(ByteOpsTest, DigestFilesSeesPathsAndBytes) {
  const std::string a = dir_ + "/a", b = dir_ + "/b";
  ASSERT_TRUE(WriteFileDurably(a + "/c/r/x.txt", "x").ok());
  ASSERT_TRUE(WriteFileDurably(b + "/c/r/x.txt", "x").ok());
  EXPECT_EQ(*DigestFiles(a), *DigestFiles(b));
  EXPECT_EQ(*DigestFiles(dir_ + "/none"), *DigestFiles(dir_ + "/none2"));
  EXPECT_NE(*DigestFiles(a), *DigestFiles(dir_ + "/none"));
  ASSERT_TRUE(WriteFileDurably(b + "/c/r/x.txt", "y").ok());
  EXPECT_NE(*DigestFiles(a), *DigestFiles(b));
  ASSERT_TRUE(WriteFileDurably(b + "/c/r/x.txt", "x").ok());
  std::filesystem::rename(b + "/c/r", b + "/c/s");
  EXPECT_NE(*DigestFiles(a), *DigestFiles(b));
}

// A database a running server makes is announced whole; applying that
// entry makes the same file, which then takes the origin's next entries.
TEST_F(ByteOpsTest, ANewDatabaseTravelsAsAnImage) {
  auto made = OpenApp("made.db", true, /*announce=*/true);
  ASSERT_TRUE(made);
  ASSERT_EQ(sink_.entries.size(), 1u);
  EntryView e = Entry(0);
  EXPECT_EQ(e.kind, EntryKind::kCreateDatabase);
  EXPECT_EQ(e.index, 1u);
  EXPECT_EQ(e.database, "apps/shop.db");
  ASSERT_EQ(e.ops.size(), 1u);
  EXPECT_EQ(e.ops[0].kind, OpKind::kDatabaseImage);
  EXPECT_EQ(e.ops[0].payload.substr(0, 16), std::string("SQLite format 3\0", 16));
  // Rollback-journal mode (header bytes 18, 19: 1), not WAL: one file says it all.
  EXPECT_EQ(e.ops[0].payload[18], 1);
  EXPECT_EQ(e.ops[0].payload[19], 1);
  EXPECT_EQ(made->last_index(), 1u);
  ASSERT_TRUE(
      made->Write([](Connection& c) { return c.Exec("INSERT INTO docs (id) VALUES ('d1')"); })
          .ok());
  // An existing database (found at start-up) is not announced.
  auto old = OpenApp("made.db", true, /*announce=*/true);
  ASSERT_TRUE(old);
  EXPECT_EQ(sink_.entries.size(), 2u);
  old.reset();

  const std::string path = dir_ + "/copy-of-made.db";
  Status s = WriteDatabaseImage(path, e);
  ASSERT_TRUE(s.ok()) << Why(s);
  EXPECT_FALSE(std::filesystem::exists(path + ".image"));
  EXPECT_FALSE(WriteDatabaseImage(path, e).ok());  // there already
  copy_ = OpenApp("copy-of-made.db", false);
  ASSERT_TRUE(copy_);
  EXPECT_EQ(copy_->last_index(), 1u);
  s = copy_->Apply(std::make_shared<const std::string>(sink_.entries[1]));
  ASSERT_TRUE(s.ok()) << Why(s);
  EXPECT_EQ(DigestOf(*made), DigestOf(*copy_));
  // A Store does not apply it (the file is made before anything opens it).
  EXPECT_FALSE(copy_->Apply(std::make_shared<const std::string>(sink_.entries[0])).ok());
}

}  // namespace
}  // namespace hearth::store
