// The backup target's layout (stream/remote.h): names that sort and parse
// back, segment objects that carry exactly their entries and refuse any
// damage, manifests that refuse what restore must not trust, and zstd
// between files with the SHA-256 of the uncompressed side.
#include "stream/remote.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "crypto/hash.h"

namespace hearth::stream {
namespace {

namespace fs = std::filesystem;

std::string Entry(uint64_t index, uint64_t generation, int64_t time_us, size_t payload = 40) {
  store::EntryView e;
  e.kind = store::EntryKind::kWrites;
  e.index = index;
  e.generation = generation;
  e.commit_time_us = time_us;
  e.database = "hearth.db";
  const std::string sql = "INSERT INTO t VALUES ('" + std::string(payload, 'x') + "')";
  e.ops.push_back({store::OpKind::kDdl, sql});  // a view: `sql` outlives the encoding
  auto bytes = store::EncodeEntry(e);
  EXPECT_TRUE(bytes.ok());
  return bytes.ok() ? *bytes : std::string();
}

SegmentBuilder Build(uint64_t first, uint64_t last, uint64_t generation = 7) {
  SegmentBuilder b(0, generation);
  for (uint64_t i = first; i <= last; ++i) {
    std::string bytes = Entry(i, generation, static_cast<int64_t>(i) * 1000);
    auto e = store::DecodeEntry(bytes);
    EXPECT_TRUE(e.ok());
    EXPECT_TRUE(b.Add(*e, bytes).ok());
  }
  return b;
}

TEST(RemoteNames, GenerationNamesSortByTimeAndParseBack) {
  std::string a = GenerationName(0xabc, int64_t{1765101600} * 1000000);  // 2025-12-07T10:00:00Z
  EXPECT_EQ(a, "20251207T100000Z-0000000000000abc");
  auto p = ParseGenerationName(a);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->id, 0xabcu);
  EXPECT_EQ(p->started_us, int64_t{1765101600} * 1000000);
  EXPECT_LT(a, GenerationName(1, int64_t{1765101601} * 1000000));
  for (const char* bad : {"", "20251207T100000Z", "20251207T100000Z-000000000000000g",
                          "20251307T100000Z-0000000000000abc", "20251207T100000Z-0000000000000000",
                          "2025120xT100000Z-0000000000000abc", "../../../../etc/passwd-aaaaaaaaaa"})
    EXPECT_FALSE(ParseGenerationName(bad)) << bad;
}

TEST(RemoteNames, SegmentNamesRoundTripAndSortByIndex) {
  SegmentId s{1, 0x10, 0x2f, 1000, 2000};
  std::string key = SegmentKey("G", s);
  EXPECT_EQ(key,
            "generations/G/segments/L1/0000000000000010-000000000000002f_00000000000003e8_"
            "00000000000007d0.hseg.zst");
  auto back = ParseSegmentFileName(1, key.substr(key.rfind('/') + 1));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->first, 0x10u);
  EXPECT_EQ(back->last, 0x2fu);
  EXPECT_EQ(back->t0, 1000);
  EXPECT_EQ(back->t1, 2000);
  EXPECT_LT(SegmentKey("G", {0, 9, 9, 0, 0}), SegmentKey("G", {0, 10, 10, 0, 0}));
  // last before first, time going back, index 0, junk: not a segment
  for (std::string bad :
       {std::string("0000000000000002-0000000000000001_0000000000000000_0000000000000000.hseg.zst"),
        std::string("0000000000000001-0000000000000002_0000000000000002_0000000000000001.hseg.zst"),
        std::string("0000000000000000-0000000000000002_0000000000000000_0000000000000001.hseg.zst"),
        std::string("0000000000000001-0000000000000002_0000000000000000_0000000000000001.hseg"),
        std::string("x.hseg.zst")})
    EXPECT_FALSE(ParseSegmentFileName(0, bad)) << bad;
}

TEST(RemoteSegment, CarriesItsEntriesExactly) {
  SegmentBuilder b = Build(5, 9);
  EXPECT_EQ(b.info().first, 5u);
  EXPECT_EQ(b.info().last, 9u);
  EXPECT_EQ(b.info().t0, 5000);
  EXPECT_EQ(b.info().t1, 9000);
  auto object = b.Finish(3);
  ASSERT_TRUE(object.ok()) << object.error().message;
  auto opened = OpenSegment(*object, b.name());
  ASSERT_TRUE(opened.ok()) << opened.error().message;
  ASSERT_EQ(opened->entries.size(), 5u);
  for (uint64_t i = 0; i < 5; ++i)
    EXPECT_EQ(opened->entries[i], Entry(5 + i, 7, static_cast<int64_t>(5 + i) * 1000));
  // Its name must say what it holds.
  SegmentId other = b.name();
  other.last = 10;
  auto wrong = OpenSegment(*object, other);
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.error().message.find("do not match its name"), std::string::npos);
}

TEST(RemoteSegment, BuilderRefusesAHoleAndAnotherGeneration) {
  SegmentBuilder b = Build(1, 2);
  std::string gap = Entry(4, 7, 4000);
  EXPECT_FALSE(b.Add(*store::DecodeEntry(gap), gap).ok());
  std::string other = Entry(3, 8, 3000);
  EXPECT_FALSE(b.Add(*store::DecodeEntry(other), other).ok());
  std::string next = Entry(3, 7, 3000);
  EXPECT_TRUE(b.Add(*store::DecodeEntry(next), next).ok());
  EXPECT_FALSE(SegmentBuilder(0, 7).Finish(3).ok());  // an empty one is a mistake
}

TEST(RemoteSegment, RefusesEveryKindOfDamage) {
  auto object = Build(1, 4).Finish(3);
  ASSERT_TRUE(object.ok());
  auto raw = Decompress(*object, 1 << 20);
  ASSERT_TRUE(raw.ok());
  // A flipped byte anywhere in the uncompressed bytes (recompressed, so zstd's
  // own checksum holds): the header CRC, an entry's CRC or the trailer says no.
  for (size_t at : {size_t{3}, size_t{20}, size_t{70}, raw->size() / 2, raw->size() - 5}) {
    std::string bad = *raw;
    bad[at] ^= 0x10;
    auto again = Compress(bad, 3);
    ASSERT_TRUE(again.ok());
    EXPECT_FALSE(OpenSegment(*again).ok()) << "flipped byte " << at;
  }
  // Cut short, or a flipped byte in the compressed object.
  EXPECT_FALSE(OpenSegment(object->substr(0, object->size() - 3)).ok());
  std::string flipped = *object;
  flipped[flipped.size() / 2] ^= 1;
  EXPECT_FALSE(OpenSegment(flipped).ok());
  EXPECT_FALSE(OpenSegment("").ok());
  EXPECT_FALSE(OpenSegment("not zstd at all").ok());
  // A newer format says which hearth is needed.
  std::string newer = *raw;
  newer[4] = 2;
  auto n = OpenSegment(*Compress(newer, 3));
  ASSERT_FALSE(n.ok());
  EXPECT_NE(n.error().message.find("newer hearth"), std::string::npos) << n.error().message;
}

TEST(RemoteSegment, DecompressStopsAtItsLimit) {
  std::string big(1 << 20, 'a');
  auto packed = Compress(big, 3);
  ASSERT_TRUE(packed.ok());
  EXPECT_LT(packed->size(), 1000u);
  EXPECT_TRUE(Decompress(*packed, big.size()).ok());
  auto over = Decompress(*packed, big.size() - 1);
  ASSERT_FALSE(over.ok());
  EXPECT_NE(over.error().message.find("larger than"), std::string::npos);
}

Manifest SampleManifest() {
  Manifest m;
  m.generation = "20251207T100000Z-0000000000000abc";
  m.from_index = 10;
  m.index = 12;
  m.time_us = 12000;
  m.taken_us = 13000;
  m.hearth = "0.1.0";
  m.databases.push_back({"hearth.db", "k/hearth.db.zst", 4096, std::string(64, 'a'), 12, "d1"});
  m.databases.push_back({"apps/x.db", "k/apps/x.db.zst", 8192, std::string(64, 'b'), 9, "d2"});
  m.files.push_back({"files/x/c1/r1/a.bin", 5, std::string(64, 'c')});
  return m;
}

TEST(RemoteManifest, RoundTrips) {
  Manifest m = SampleManifest();
  auto back = DecodeManifest(EncodeManifest(m));
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back->generation, m.generation);
  EXPECT_EQ(back->from_index, 10u);
  EXPECT_EQ(back->index, 12u);
  ASSERT_EQ(back->databases.size(), 2u);
  EXPECT_EQ(back->databases[1].name, "apps/x.db");
  EXPECT_EQ(back->databases[1].last_index, 9u);
  EXPECT_EQ(back->databases[1].sha256, std::string(64, 'b'));
  ASSERT_EQ(back->files.size(), 1u);
  EXPECT_EQ(back->files[0].path, "files/x/c1/r1/a.bin");
  EXPECT_EQ(back->files[0].size, 5u);
}

TEST(RemoteManifest, RefusesWhatRestoreMustNotTrust) {
  auto refuse = [](Manifest m, const char* why) {
    auto r = DecodeManifest(EncodeManifest(m));
    EXPECT_FALSE(r.ok()) << why;
  };
  Manifest m = SampleManifest();
  m.databases[1].name = "apps/../../etc/x.db";
  refuse(m, "a name that climbs");
  m = SampleManifest();
  m.databases[1].name = "/etc/passwd";
  refuse(m, "an absolute name");
  m = SampleManifest();
  m.databases.erase(m.databases.begin());
  refuse(m, "no hearth.db");
  m = SampleManifest();
  m.databases[1].name = "hearth.db";
  refuse(m, "a database twice");
  m = SampleManifest();
  m.databases[0].sha256 = "zz";
  refuse(m, "a bad sha256");
  m = SampleManifest();
  m.files[0].path = "files/../../etc/passwd";
  refuse(m, "a file path that climbs");
  m = SampleManifest();
  m.files[0].path = "apps/x.db";
  refuse(m, "a file outside files/");
  EXPECT_FALSE(DecodeManifest("[]").ok());
  EXPECT_FALSE(DecodeManifest("{\"format\":1}").ok());
  EXPECT_FALSE(DecodeManifest(std::string(100, '[')).ok());
  auto newer = DecodeManifest("{\"format\":2}");
  ASSERT_FALSE(newer.ok());
  EXPECT_NE(newer.error().message.find("newer hearth"), std::string::npos);
}

TEST(RemoteManifest, GenerationRecordRoundTrips) {
  GenerationRecord r{
      "20251207T100000Z-0000000000000abc", 0xabc, 0x1234, 5, 77, "first upload", "0.1.0"};
  auto back = DecodeGenerationRecord(EncodeGenerationRecord(r));
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back->id, 0xabcu);
  EXPECT_EQ(back->node, 0x1234u);
  EXPECT_EQ(back->first_index, 77u);
  EXPECT_EQ(back->reason, "first upload");
  EXPECT_FALSE(DecodeGenerationRecord("{\"format\":1,\"id\":\"xyz\"}").ok());
}

class RemoteFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/hearth-remote-XXXXXX";
    dir_ = mkdtemp(tmpl);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string dir_;
};

TEST_F(RemoteFiles, CompressFileRoundTripsWithTheShaOfTheOriginal) {
  std::string data;
  for (int64_t i = 0; i < 300000; ++i) data += std::to_string(i * 7919 % 100003) + ",";
  { std::ofstream(dir_ + "/in", std::ios::binary) << data; }
  std::string sha_in, sha_out;
  ASSERT_TRUE(CompressFile(dir_ + "/in", dir_ + "/in.zst", 3, &sha_in).ok());
  EXPECT_EQ(sha_in, crypto::Sha256Hex(data));
  EXPECT_LT(fs::file_size(dir_ + "/in.zst"), data.size());
  ASSERT_TRUE(DecompressFile(dir_ + "/in.zst", dir_ + "/out", data.size(), &sha_out).ok());
  EXPECT_EQ(sha_out, sha_in);
  std::ifstream back(dir_ + "/out", std::ios::binary);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(back), {}), data);
  EXPECT_FALSE(fs::exists(dir_ + "/out.tmp"));
  // Past its limit, or cut short: refused, and nothing left at `out`.
  EXPECT_FALSE(DecompressFile(dir_ + "/in.zst", dir_ + "/out2", data.size() - 1).ok());
  EXPECT_FALSE(fs::exists(dir_ + "/out2"));
  fs::resize_file(dir_ + "/in.zst", fs::file_size(dir_ + "/in.zst") - 10);
  EXPECT_FALSE(DecompressFile(dir_ + "/in.zst", dir_ + "/out3", data.size()).ok());
  EXPECT_FALSE(fs::exists(dir_ + "/out3"));
  // An empty file compresses to a valid frame and back.
  { std::ofstream(dir_ + "/empty"); }
  ASSERT_TRUE(CompressFile(dir_ + "/empty", dir_ + "/empty.zst", 3).ok());
  EXPECT_TRUE(DecompressFile(dir_ + "/empty.zst", dir_ + "/empty.out", 10).ok());
  EXPECT_EQ(fs::file_size(dir_ + "/empty.out"), 0u);
}

// The fuzz target's seeds (fuzz/corpus/backup_object/): a segment object, a
// manifest, a generation record and a listing, each valid, so the fuzzer
// starts past the first checks. HEARTH_WRITE_SEEDS=1 rewrites them.
TEST(RemoteSegment, FuzzSeedsAreValid) {
  const fs::path dir = fs::path(HEARTH_SOURCE_DIR) / "fuzz/corpus/backup_object";
  const std::string gen = "20251207T100000Z-0000000000000007";
  std::string listing = "hearth-backup.json\n" + GenerationRecordKey(gen) + "\n" +
                        SnapshotManifestKey(SnapshotFolderKey(gen, 2, 2000)) + "\n" +
                        SegmentKey(gen, {0, 1, 4, 1000, 4000}) + "\n";
  std::map<std::string, std::string> seeds = {
      {"segment", *Build(1, 4).Finish(3)},
      {"manifest", EncodeManifest(SampleManifest())},
      {"generation", EncodeGenerationRecord({gen, 7, 1, 1000, 1, "first upload", "0.1.0"})},
      {"listing", listing}};
  const char* write = std::getenv("HEARTH_WRITE_SEEDS");
  for (const auto& [name, bytes] : seeds)
    if (write && std::string(write) == "1") {
      fs::create_directories(dir);
      std::ofstream(dir / name, std::ios::binary) << bytes;
    }
  auto read = [&](const char* name) {
    std::ifstream in(dir / name, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  // zstd's output may change with its version: the segment seed must open,
  // not match byte for byte.
  EXPECT_TRUE(OpenSegment(read("segment")).ok());
  EXPECT_TRUE(DecodeManifest(read("manifest")).ok());
  EXPECT_TRUE(DecodeGenerationRecord(read("generation")).ok());
  EXPECT_EQ(read("listing"), listing);
}

}  // namespace
}  // namespace hearth::stream
