// file:// targets: LocalDirStore's objects, its atomic writes and its key
// checks (nothing escapes the root), and the target URL parser.
#include "s3/local_dir_store.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace hearth::s3 {
namespace {

namespace fs = std::filesystem;

struct TempRoot {
  fs::path dir;
  TempRoot() {
    dir = fs::path(::testing::TempDir()) /
          ("lds-" + std::to_string(getpid()) + "-" + std::to_string(counter++));
    fs::remove_all(dir);
  }
  ~TempRoot() { fs::remove_all(dir); }
  static inline int counter = 0;
};

std::string Slurp(const fs::path& p) {
  std::ifstream in(p);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

TEST(LocalDirStore, PutGetHeadListDelete) {
  TempRoot t;
  LocalDirStore s((t.dir / "root").string());  // made on the first put
  ASSERT_TRUE(s.Put("a/b/one", "1").ok());
  ASSERT_TRUE(s.Put("a/two", "22").ok());
  ASSERT_TRUE(s.Put("z", "").ok());
  ASSERT_TRUE(s.Put("a/two", "222").ok()) << "replaces";
  EXPECT_EQ(s.Get("a/two").value_or("?"), "222");
  auto head = s.Head("a/b/one");
  ASSERT_TRUE(head.ok() && head->has_value());
  EXPECT_EQ((*head)->size, 1u);
  auto none = s.Head("a/missing");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  EXPECT_FALSE(s.Get("a/missing").ok());
  auto all = s.List("");
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].key, "a/b/one");
  EXPECT_EQ((*all)[1].key, "a/two");
  EXPECT_EQ((*all)[2].key, "z");
  auto under_a = s.List("a/");
  ASSERT_TRUE(under_a.ok());
  EXPECT_EQ(under_a->size(), 2u);
  ASSERT_TRUE(s.Delete("a/b/one").ok());
  ASSERT_TRUE(s.Delete("a/b/one").ok()) << "deleting what is gone is fine, as in S3";
  EXPECT_FALSE(fs::exists(t.dir / "root/a/b")) << "the emptied folder goes too";
  EXPECT_TRUE(fs::exists(t.dir / "root/a/two"));
  EXPECT_EQ(s.Describe(), "file://" + (t.dir / "root").string());
}

TEST(LocalDirStore, FilesInAndOutAndNoTemporariesLeft) {
  TempRoot t;
  fs::create_directories(t.dir);
  std::string big(3 << 20, 'q');
  big[12345] = 'x';
  std::ofstream(t.dir / "in.bin") << big;
  LocalDirStore s((t.dir / "root").string());
  ASSERT_TRUE(s.PutFile("k", (t.dir / "in.bin").string()).ok());
  ASSERT_TRUE(s.GetToFile("k", (t.dir / "out.bin").string()).ok());
  EXPECT_EQ(Slurp(t.dir / "out.bin"), big);
  EXPECT_FALSE(s.GetToFile("missing", (t.dir / "out2.bin").string()).ok());
  EXPECT_FALSE(fs::exists(t.dir / "out2.bin"));
  for (const auto& e : fs::recursive_directory_iterator(t.dir))
    EXPECT_EQ(e.path().filename().string().find(".hearth-tmp-"), std::string::npos) << e.path();
}

// A crash between the temporary's write and its rename leaves a temporary:
// it is never listed, and the object keeps its old bytes.
TEST(LocalDirStore, LeftoverTemporariesAreInvisible) {
  TempRoot t;
  LocalDirStore s(t.dir.string());
  ASSERT_TRUE(s.Put("seg/1", "old").ok());
  std::ofstream(t.dir / "seg/.hearth-tmp-abc") << "half";
  auto all = s.List("");
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ((*all)[0].key, "seg/1");
  EXPECT_EQ(s.Get("seg/1").value_or(""), "old");
}

TEST(LocalDirStore, KeysNeverLeaveTheRoot) {
  TempRoot t;
  fs::create_directories(t.dir / "root");
  LocalDirStore s((t.dir / "root").string());
  const std::string bad[] = {"",
                             "/etc/passwd",
                             "../escape",
                             "a/../../escape",
                             "a/./b",
                             "a//b",
                             "trailing/",
                             "..",
                             std::string("nul\0x", 5),
                             "tab\t",
                             std::string(1025, 'k'),
                             "\xff\xfe"};
  for (const auto& key : bad) {
    EXPECT_FALSE(s.Put(key, "x").ok()) << key;
    EXPECT_FALSE(s.Get(key).ok()) << key;
    EXPECT_FALSE(s.Delete(key).ok()) << key;
    EXPECT_FALSE(s.Head(key).ok()) << key;
  }
  EXPECT_FALSE(fs::exists(t.dir / "escape"));
  EXPECT_TRUE(fs::is_empty(t.dir / "root"));
  EXPECT_TRUE(CheckKey("a/b.c/..d/e..").ok());
  EXPECT_TRUE(CheckKey(std::string(1024, 'k')).ok());
}

// A link planted in the target under an object's name is not followed, by
// Get nor by GetToFile (a restore would otherwise copy any file it points at).
TEST(LocalDirStore, ALinkUnderAnObjectsNameIsNotFollowed) {
  TempRoot t;
  fs::create_directories(t.dir / "root");
  { std::ofstream(t.dir / "secret") << "not yours"; }
  fs::create_symlink(t.dir / "secret", t.dir / "root" / "obj");
  LocalDirStore s((t.dir / "root").string());
  EXPECT_FALSE(s.Get("obj").ok());
  EXPECT_FALSE(s.GetToFile("obj", (t.dir / "out").string()).ok());
  EXPECT_FALSE(fs::exists(t.dir / "out"));
}

// A root that cannot be made (a file where a folder should be: root or not,
// nobody writes there) is one clear line.
TEST(LocalDirStore, AnUnwritableRootIsAClearError) {
  TempRoot t;
  fs::create_directories(t.dir);
  std::ofstream(t.dir / "file") << "x";
  LocalDirStore s((t.dir / "file/backups").string());
  Status st = s.Put("k", "x");
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().message,
            "cannot create " + (t.dir / "file/backups").string() + ": Not a directory");
}

struct TargetRow {
  const char* url;
  bool ok;
  Target::Kind kind;
  const char* bucket_or_path;
  const char* prefix;
};

TEST(ParseTarget, S3AndFileUrls) {
  const TargetRow rows[] = {
      {"s3://bucket", true, Target::kS3, "bucket", ""},
      {"s3://bucket/", true, Target::kS3, "bucket", ""},
      {"s3://my-bucket.1/a/b/", true, Target::kS3, "my-bucket.1", "a/b"},
      {"file:///var/backups/hearth", true, Target::kFile, "/var/backups/hearth", ""},
      {"file:///var/backups/hearth/", true, Target::kFile, "/var/backups/hearth", ""},
      {"s3://", false, Target::kS3, "", ""},
      {"s3:///prefix", false, Target::kS3, "", ""},
      {"s3://UPPER/p", false, Target::kS3, "", ""},
      {"s3://ab", false, Target::kS3, "", ""},
      {"s3://-bucket", false, Target::kS3, "", ""},
      {"s3://bucket/a/../b", false, Target::kS3, "", ""},
      {"s3://bucket/a//b", false, Target::kS3, "", ""},
      {"file://relative/path", false, Target::kFile, "", ""},
      {"file://", false, Target::kFile, "", ""},
      {"file:///", false, Target::kFile, "", ""},
      {"file:///a/../etc", false, Target::kFile, "", ""},
      {"http://bucket/x", false, Target::kS3, "", ""},
      {"/var/backups", false, Target::kS3, "", ""},
  };
  for (const auto& row : rows) {
    auto t = ParseTarget(row.url);
    EXPECT_EQ(t.ok(), row.ok) << row.url << (t.ok() ? "" : ": " + t.error().message);
    if (!t.ok() || !row.ok) continue;
    EXPECT_EQ(t->kind, row.kind) << row.url;
    EXPECT_EQ(row.kind == Target::kS3 ? t->bucket : t->path, row.bucket_or_path) << row.url;
    EXPECT_EQ(t->prefix, row.prefix) << row.url;
  }
  auto e = ParseTarget("ftp://x");
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.error().message,
            "a backup target is s3://bucket/prefix or file:///path, not \"ftp://x\"");
}

TEST(OpenObjectStore, NeedsCredentialsForS3AndMakesEither) {
  StoreOptions o;
  EXPECT_FALSE(OpenObjectStore("s3://bucket/p", o).ok());
  o.creds = {"k", "s"};
  o.endpoint = "http://127.0.0.1:1";
  auto s3 = OpenObjectStore("s3://bucket/p", o);
  ASSERT_TRUE(s3.ok());
  EXPECT_EQ((*s3)->Describe(), "s3://bucket/p");
  auto file = OpenObjectStore("file:///tmp/x", StoreOptions{});
  ASSERT_TRUE(file.ok());
  EXPECT_EQ((*file)->Describe(), "file:///tmp/x");
  EXPECT_FALSE(OpenObjectStore("s3://bucket",
                               [] {
                                 StoreOptions b;
                                 b.creds = {"k", "s"};
                                 b.endpoint = "nope";
                                 return b;
                               }())
                   .ok());
}

}  // namespace
}  // namespace hearth::s3
