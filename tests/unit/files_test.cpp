// File fields: stored names, type sniffing, the file ops of a write, and
// durable writes of record files.
#include <gtest/gtest.h>

// Aggregates are built with their leading members only.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "crypto/hash.h"
#include "data/files.h"

namespace hearth::data {
namespace {

using nlohmann::json;

// name == stem + "_" + 10 of [a-z0-9] + ext (std::regex trips GCC 12's
// -Wmaybe-uninitialized under the sanitizers).
bool Stored(const std::string& name, const std::string& stem, const std::string& ext) {
  if (name.size() != stem.size() + 11 + ext.size() || name.compare(0, stem.size(), stem) != 0 ||
      name[stem.size()] != '_' || name.compare(name.size() - ext.size(), ext.size(), ext) != 0)
    return false;
  for (size_t i = stem.size() + 1; i < stem.size() + 11; ++i)
    if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9'))) return false;
  return true;
}

TEST(StoredFileName, CleansTheNameAndAddsARandomPart) {
  std::string n = StoredFileName("My Photo (1).PNG");
  EXPECT_TRUE(Stored(n, "my_photo__1", ".png")) << n;
  EXPECT_NE(StoredFileName("a.txt"), StoredFileName("a.txt"));
  EXPECT_TRUE(Stored(StoredFileName("../../etc/passwd"), "passwd", ""));
  EXPECT_TRUE(Stored(StoredFileName("C:\\docs\\report.pdf"), "report", ".pdf"));
  EXPECT_TRUE(Stored(StoredFileName(""), "file", ""));
  EXPECT_TRUE(Stored(StoredFileName("-rf.txt"), "rf", ".txt"));
  EXPECT_TRUE(Stored(StoredFileName(".htaccess"), "file", ".htaccess"));
  EXPECT_TRUE(Stored(StoredFileName("x.t/xt"), "xt", ""));
  EXPECT_TRUE(Stored(StoredFileName("a.b c"), "a", ""));  // an odd extension is dropped
  EXPECT_EQ(StoredFileName(std::string(300, 'x') + ".txt").size(), 100 + 1 + 10 + 4);
  for (const char* in : {"..", "/", "\\", "a/..", "\0x", "ü.png", "a\nb.txt"})
    EXPECT_TRUE(IsStoredFileName(StoredFileName(in))) << in;
}

TEST(StoredFileName, OnlyPlainNamesAreStoredNames) {
  EXPECT_TRUE(IsStoredFileName("photo_abcdefghij.png"));
  for (const char* bad : {"", ".", "..", "../x", "a/b", "a\\b", ".hidden", "-rf", "a b", "a%2Fb"})
    EXPECT_FALSE(IsStoredFileName(bad)) << bad;
}

TEST(SniffMime, BytesFirstThenTheExtensionForText) {
  EXPECT_EQ(SniffMime("x.txt", std::string("\x89PNG\r\n\x1a\n....", 12)), "image/png");
  EXPECT_EQ(SniffMime("x.png", "\xff\xd8\xff\xe0"), "image/jpeg");
  EXPECT_EQ(SniffMime("x", "%PDF-1.7"), "application/pdf");
  EXPECT_EQ(SniffMime("x", std::string("RIFF\x10\0\0\0WEBPVP8 ", 16)), "image/webp");
  EXPECT_EQ(SniffMime("x", std::string("\0\0\0\x18"
                                       "ftypavif",
                                       12)),
            "image/avif");
  EXPECT_EQ(SniffMime("x", std::string("\0\0\0\x18"
                                       "ftypisom",
                                       12)),
            "video/mp4");
  EXPECT_EQ(SniffMime("page.html", "<html>"), "text/html");  // a lie about PNG stays HTML
  EXPECT_EQ(SniffMime("page.png", "<html>"), "text/plain");
  EXPECT_EQ(SniffMime("a.svg", "<svg/>"), "image/svg+xml");
  EXPECT_EQ(SniffMime("a.bin", std::string("ab\0cd", 5)), "application/octet-stream");
  EXPECT_EQ(SniffMime("empty", ""), "application/octet-stream");
  EXPECT_EQ(SniffMime("song.mp3", std::string("\xff\xfb\x90\x00\x01", 5)),
            "audio/mpeg");  // no ID3 tag
  EXPECT_EQ(SniffMime("notes", "plain words"), "text/plain");
  EXPECT_EQ(SniffMime("latin1", "caf\xe9 au lait"), "application/octet-stream");  // not UTF-8
}

Collection Docs() {
  Collection c;
  c.id = "pbc_docs0000000";
  c.name = "docs";
  Field cover{"cover", FieldType::kFile};
  cover.max_size = 100;
  cover.mime_types = {"image/png"};
  Field att{"att", FieldType::kFile};
  att.max_select = 3;
  Field need{"need", FieldType::kFile};
  need.required = true;
  c.fields = {cover, att, need, Field{"title", FieldType::kText}};
  return c;
}

TEST(FileOps, TakesFileKeysOutOfTheBodyAndChecksUploads) {
  Collection c = Docs();
  json body = {
      {"title", "t"}, {"att", json::array({"a_1234567890.txt"})}, {"att-", "b_1234567890.txt"}};
  std::string png = "\x89PNG\r\n\x1a\nxxxx";
  std::vector<Upload> uploads = {{"cover", Upload::Mode::kSet, "c.png", png},
                                 {"att", Upload::Mode::kAppend, "n.txt", "hello"},
                                 {"nope", Upload::Mode::kSet, "x.txt", "x"}};
  json errors = json::object();
  auto ops = TakeFileOps(c, &body, &uploads, &errors);
  EXPECT_EQ(body, json({{"title", "t"}}));
  ASSERT_EQ(ops.size(), 2u);
  EXPECT_EQ(ops[0].field->name, "cover");
  ASSERT_EQ(ops[0].set.size(), 1u);
  EXPECT_EQ(ops[0].set[0], uploads[0].stored);
  EXPECT_EQ(uploads[0].mime, "image/png");
  EXPECT_EQ(*ops[1].keep, std::vector<std::string>{"a_1234567890.txt"});
  EXPECT_EQ(ops[1].remove, std::vector<std::string>{"b_1234567890.txt"});
  EXPECT_EQ(ops[1].append.size(), 1u);
  EXPECT_TRUE(errors.contains("nope"));

  std::vector<Upload> bad = {{"cover", Upload::Mode::kSet, "big.png", png + std::string(200, 'x')}};
  json body2 = json::object();
  errors = json::object();
  TakeFileOps(c, &body2, &bad, &errors);
  EXPECT_EQ(errors["cover"]["code"], "validation_file_size_limit");
  errors = json::object();
  bad = {{"cover", Upload::Mode::kSet, "page.png", "<html>"}};
  TakeFileOps(c, &body2, &bad, &errors);
  EXPECT_EQ(errors["cover"]["code"], "validation_invalid_mime_type");
  std::vector<Upload> four;
  for (int i = 0; i < 4; ++i) four.push_back({"att", Upload::Mode::kSet, "f.txt", "x"});
  json body4 = json::object();
  errors = json::object();
  EXPECT_TRUE(TakeFileOps(c, &body4, &four, &errors).empty());
  EXPECT_EQ(errors["att"]["code"], "validation_too_many_files");
  for (const auto& u : four)
    EXPECT_TRUE(u.stored.empty()) << "nothing of a refused field is written";
  std::vector<Upload> two_covers = {{"cover", Upload::Mode::kSet, "a.png", png},
                                    {"cover", Upload::Mode::kSet, "b.png", png}};
  errors = json::object();
  auto kept = TakeFileOps(c, &body4, &two_covers, &errors);
  ASSERT_EQ(kept.size(), 1u);
  EXPECT_EQ(kept[0].set, std::vector<std::string>{two_covers[1].stored});
  EXPECT_TRUE(two_covers[0].stored.empty());
  json body3 = {{"att", 5}};
  errors = json::object();
  std::vector<Upload> none;
  TakeFileOps(c, &body3, &none, &errors);
  EXPECT_EQ(errors["att"]["code"], "validation_invalid_value");
}

TEST(FileOps, ApplyKeepsReplacesAppendsAndRemoves) {
  Collection c = Docs();
  const Field* att = c.Find("att");
  std::vector<std::string> cur = {"a", "b"};
  json errors = json::object();
  FileOp append{att, std::nullopt, {}, {"c"}, {}, {}};
  EXPECT_EQ(ApplyFileOp(append, cur, &errors), (std::vector<std::string>{"a", "b", "c"}));
  FileOp prepend{att, std::nullopt, {}, {}, {"z"}, {}};
  EXPECT_EQ(ApplyFileOp(prepend, cur, &errors), (std::vector<std::string>{"z", "a", "b"}));
  FileOp replace{att, std::nullopt, {"n"}, {}, {}, {}};
  EXPECT_EQ(ApplyFileOp(replace, cur, &errors), (std::vector<std::string>{"n"}));
  FileOp keep_and_add{att, std::vector<std::string>{"b"}, {"n"}, {}, {}, {}};
  EXPECT_EQ(ApplyFileOp(keep_and_add, cur, &errors), (std::vector<std::string>{"b", "n"}));
  FileOp clear{att, std::vector<std::string>{}, {}, {}, {}, {}};
  EXPECT_TRUE(ApplyFileOp(clear, cur, &errors).empty());
  FileOp remove{att, std::nullopt, {}, {}, {}, {"a"}};
  EXPECT_EQ(ApplyFileOp(remove, cur, &errors), (std::vector<std::string>{"b"}));
  EXPECT_TRUE(errors.empty()) << errors.dump();

  // Names a record does not hold are refused: a client never picks a path.
  FileOp forged{att, std::vector<std::string>{"../../hearth.db"}, {}, {}, {}, {}};
  EXPECT_EQ(ApplyFileOp(forged, cur, &errors), cur);
  EXPECT_EQ(errors["att"]["code"], "validation_invalid_value");
  errors = json::object();
  FileOp remove_unknown{att, std::nullopt, {}, {}, {}, {"zz"}};
  ApplyFileOp(remove_unknown, cur, &errors);
  EXPECT_EQ(errors["att"]["code"], "validation_invalid_value");
  errors = json::object();
  FileOp too_many{att, std::nullopt, {}, {"c", "d"}, {}, {}};
  EXPECT_EQ(ApplyFileOp(too_many, cur, &errors), cur);
  EXPECT_EQ(errors["att"]["code"], "validation_too_many_files");
  errors = json::object();
  // A single-file field keeps the newest file.
  FileOp single_append{c.Find("cover"), std::nullopt, {}, {"n"}, {}, {}};
  EXPECT_EQ(ApplyFileOp(single_append, {"x"}, &errors), std::vector<std::string>{"n"});
  EXPECT_TRUE(errors.empty()) << errors.dump();
  errors = json::object();
  FileOp need_clear{c.Find("need"), std::vector<std::string>{}, {}, {}, {}, {}};
  ApplyFileOp(need_clear, {"x"}, &errors);
  EXPECT_EQ(errors["need"]["code"], "validation_required");
}

TEST(FileOps, FileNamesOfStoredValues) {
  EXPECT_TRUE(FileNames(json("")).empty());
  EXPECT_EQ(FileNames(json("a")), std::vector<std::string>{"a"});
  EXPECT_EQ(FileNames(json::array({"a", "", 3, "b"})), (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(FileNames(json(nullptr)).empty());
}

TEST(RecordFiles, WritesRemovesAndRefusesUnsafeNames) {
  std::string root =
      std::filesystem::temp_directory_path() / ("hearth-files-" + std::to_string(getpid()));
  std::filesystem::remove_all(root);
  RecordFiles files(root + "/site");
  auto a = files.Write("pbc_1", "rec000000000001", "a_1234567890.txt", "hello");
  ASSERT_TRUE(a.ok());
  // What the write's file-put op names the bytes by.
  EXPECT_EQ(a->size, 5u);
  EXPECT_EQ(a->sha256, crypto::Sha256Digest("hello"));
  ASSERT_TRUE(files.Write("pbc_1", "rec000000000001", "b_1234567890.txt", "world").ok());
  std::ifstream in(files.PathOf("pbc_1", "rec000000000001", "a_1234567890.txt"));
  std::string got((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(got, "hello");
  EXPECT_FALSE(files.Write("pbc_1", "rec000000000001", "../escape", "x").ok());
  EXPECT_FALSE(files.Write("..", "rec000000000001", "x.txt", "x").ok());
  EXPECT_FALSE(files.Write("pbc_1", "a/b", "x.txt", "x").ok());
  // No temporary files are left beside the written ones.
  size_t n = 0;
  for (const auto& e : std::filesystem::directory_iterator(root + "/site/pbc_1/rec000000000001")) {
    EXPECT_NE(e.path().filename().string()[0], '.');
    ++n;
  }
  EXPECT_EQ(n, 2u);
  files.Remove("pbc_1", "rec000000000001", {"a_1234567890.txt", "../../x"});
  EXPECT_FALSE(
      std::filesystem::exists(files.PathOf("pbc_1", "rec000000000001", "a_1234567890.txt")));
  EXPECT_TRUE(
      std::filesystem::exists(files.PathOf("pbc_1", "rec000000000001", "b_1234567890.txt")));
  files.RemoveRecord("pbc_1", "..");
  EXPECT_TRUE(std::filesystem::exists(root + "/site/pbc_1"));
  files.RemoveRecord("pbc_1", "rec000000000001");
  EXPECT_FALSE(std::filesystem::exists(root + "/site/pbc_1/rec000000000001"));
  files.RemoveCollection("pbc_1");
  EXPECT_FALSE(std::filesystem::exists(root + "/site/pbc_1"));
  std::filesystem::remove_all(root);
}

}  // namespace
}  // namespace hearth::data
