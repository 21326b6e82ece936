#include "store/entry.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "base/crc32c.h"

namespace hearth::store {
namespace {

const std::string kSha(32, '\x5a');
const std::string kHash(32, '\xa5');

// Payloads kept alive for the views of the entries built from them.
struct Samples {
  std::string blob_put = EncodeBlobPut({4096, 1765000000000, kSha, kHash, "zstd"});
  std::string blob_delete = EncodeBlobDelete({kHash, ""});
  std::string file_put = EncodeFilePut({12, kSha, "c0ll3ct10n/r3c0rd/photo_ab12.png"});
  std::string sequence = EncodeSequence({42, "admin_users"});
  std::string migration = EncodeMigration({9, "ALTER TABLE sites ADD COLUMN x TEXT;"});
  std::string changeset = std::string("T\x02\x00\x01\x00", 5) + "sites" + std::string(3, '\0');

  // One entry per op kind, then one holding every kind (named as the seeds
  // in fuzz/corpus/entry/ are).
  std::vector<std::pair<std::string, EntryView>> Entries() const {
    std::vector<std::pair<OpKind, std::string_view>> ops = {
        {OpKind::kChangeset, changeset},
        {OpKind::kDdl, "CREATE TABLE t (id TEXT PRIMARY KEY NOT NULL);"},
        {OpKind::kBlobPut, blob_put},
        {OpKind::kBlobDelete, blob_delete},
        {OpKind::kFilePut, file_put},
        {OpKind::kFileDelete, "c0ll3ct10n/r3c0rd/photo_ab12.png"},
        {OpKind::kFileDeleteTree, "c0ll3ct10n"},
        {OpKind::kSequence, sequence},
        {OpKind::kDatabaseImage, "SQLite format 3\0"},
        {OpKind::kMigration, migration},
    };
    const char* names[] = {"changeset",      "ddl",         "blob-put",         "blob-delete",
                           "file-put",       "file-delete", "file-delete-tree", "sequence",
                           "database-image", "migration"};
    std::vector<std::pair<std::string, EntryView>> out;
    EntryView all;
    for (size_t i = 0; i < ops.size(); ++i) {
      EntryView e;
      e.kind = ops[i].first == OpKind::kMigration       ? EntryKind::kMigration
               : ops[i].first == OpKind::kDatabaseImage ? EntryKind::kCreateDatabase
                                                        : EntryKind::kWrites;
      e.index = 100 + i;
      e.origin_node = 0x1122334455667788;
      e.origin_seq = 100 + i;
      e.commit_time_us = 1765000000000000 + static_cast<int64_t>(i);
      e.database = i % 2 ? "hearth.db" : "apps/blog.example.com.db";
      e.ops.push_back({ops[i].first, ops[i].second});
      all.ops.push_back({ops[i].first, ops[i].second});
      out.emplace_back(names[i], e);
    }
    all.index = 7;
    all.database = "apps/shop.db";
    out.emplace_back("all-kinds", all);
    EntryView noop;
    noop.kind = EntryKind::kNoOp;
    noop.index = 1;
    noop.database = "hearth.db";
    out.emplace_back("no-op", noop);
    return out;
  }
};

std::string Encode(const EntryView& e) {
  auto r = EncodeEntry(e);
  EXPECT_TRUE(r.ok()) << r.error().message;
  return r.ok() ? *r : std::string();
}

void PutLe(std::string* b, size_t at, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) (*b)[at + i] = static_cast<char>((v >> (8 * i)) & 0xFF);
}

// Recomputes both CRCs after a test edited the bytes, so the decoder's
// structural checks are reached.
void Reseal(std::string* b) {
  PutLe(b, 56, Crc32c(std::string_view(*b).substr(64)), 4);
  PutLe(b, 60, Crc32c(std::string_view(*b).substr(0, 60)), 4);
}

std::string Refusal(const std::string& bytes) {
  auto r = DecodeEntry(bytes);
  return r.ok() ? std::string("(accepted)") : r.error().message;
}

void ExpectSame(const EntryView& a, const EntryView& b) {
  EXPECT_EQ(a.kind, b.kind);
  EXPECT_EQ(a.index, b.index);
  EXPECT_EQ(a.origin_node, b.origin_node);
  EXPECT_EQ(a.origin_seq, b.origin_seq);
  EXPECT_EQ(a.commit_time_us, b.commit_time_us);
  EXPECT_EQ(a.database, b.database);
  ASSERT_EQ(a.ops.size(), b.ops.size());
  for (size_t i = 0; i < a.ops.size(); ++i) {
    EXPECT_EQ(a.ops[i].kind, b.ops[i].kind) << i;
    EXPECT_EQ(a.ops[i].payload, b.ops[i].payload) << i;
  }
}

TEST(Entry, RoundTripEveryOpKind) {
  Samples s;
  for (const auto& [name, e] : s.Entries()) {
    SCOPED_TRACE(name);
    std::string bytes = Encode(e);
    EXPECT_EQ(bytes.size() % 8, 0u);
    auto d = DecodeEntry(bytes);
    ASSERT_TRUE(d.ok()) << d.error().message;
    ExpectSame(*d, e);
    EXPECT_EQ(d->length, bytes.size());
    // Zero-copy: the views point into the buffer.
    EXPECT_EQ(d->database.data(), bytes.data() + 64);
    auto again = EncodeEntry(*d);
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(*again, bytes);
  }
}

TEST(Entry, TypedPayloadsRoundTrip) {
  Samples s;
  auto bp = DecodeBlobPut(s.blob_put);
  ASSERT_TRUE(bp.ok());
  EXPECT_EQ(bp->size, 4096u);
  EXPECT_EQ(bp->created_at, 1765000000000);
  EXPECT_EQ(bp->sha256, kSha);
  EXPECT_EQ(bp->hash, kHash);
  EXPECT_EQ(bp->encoding, "zstd");
  auto bd = DecodeBlobDelete(s.blob_delete);
  ASSERT_TRUE(bd.ok());
  EXPECT_EQ(bd->hash, kHash);
  EXPECT_EQ(bd->encoding, "");
  auto fp = DecodeFilePut(s.file_put);
  ASSERT_TRUE(fp.ok());
  EXPECT_EQ(fp->size, 12u);
  EXPECT_EQ(fp->sha256, kSha);
  EXPECT_EQ(fp->path, "c0ll3ct10n/r3c0rd/photo_ab12.png");
  auto sq = DecodeSequence(EncodeSequence({-3, "t"}));
  ASSERT_TRUE(sq.ok());
  EXPECT_EQ(sq->seq, -3);
  EXPECT_EQ(sq->table, "t");
  auto mg = DecodeMigration(s.migration);
  ASSERT_TRUE(mg.ok());
  EXPECT_EQ(mg->version, 9u);
  EXPECT_EQ(mg->sql, "ALTER TABLE sites ADD COLUMN x TEXT;");
}

// Every payload length pads to 8, so the whole entry is a multiple of 8.
TEST(Entry, LengthsPadToEight) {
  for (size_t n = 1; n <= 17; ++n) {
    std::string sql(n, 'x');
    std::string name = "apps/" + std::string(n, 'a') + ".db";
    EntryView e;
    e.database = name;
    e.ops = {{OpKind::kDdl, sql}, {OpKind::kChangeset, std::string_view(sql).substr(1)}};
    std::string bytes = Encode(e);
    EXPECT_EQ(bytes.size() % 8, 0u) << n;
    auto pad = [](size_t k) { return (k + 7) / 8 * 8; };
    EXPECT_EQ(bytes.size(), 64 + pad(name.size()) + 16 + pad(n) + 16 + pad(n - 1)) << n;
    auto d = DecodeEntry(bytes);
    ASSERT_TRUE(d.ok()) << d.error().message;
    EXPECT_EQ(*EncodeEntry(*d), bytes);
  }
}

// The entry at the front of a longer buffer decodes, its length says where
// the next begins.
TEST(Entry, DecodesTheFrontOfALog) {
  Samples s;
  auto entries = s.Entries();
  std::string log = Encode(entries[0].second) + Encode(entries[1].second);
  auto first = DecodeEntry(log);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->index, 100u);
  auto second = DecodeEntry(std::string_view(log).substr(first->length));
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->index, 101u);
}

TEST(Entry, TruncatedAtEveryOffsetIsRefused) {
  Samples s;
  std::string bytes = Encode(s.Entries()[10].second);  // all kinds, index 7
  for (size_t n = 0; n < bytes.size(); ++n)
    EXPECT_FALSE(DecodeEntry(std::string_view(bytes).substr(0, n)).ok()) << n;
  EXPECT_EQ(Refusal(bytes.substr(0, 40)),
            "entry is truncated: 40 bytes, shorter than its 64-byte header");
  EXPECT_EQ(Refusal(bytes.substr(0, 72)), "entry 7 is truncated: its header says " +
                                              std::to_string(bytes.size()) +
                                              " bytes, 72 are there");
}

TEST(Entry, AFlippedBitAnywhereIsRefused) {
  Samples s;
  std::string all = Encode(s.Entries()[10].second);
  for (size_t bit = 0; bit < all.size() * 8; ++bit) {
    std::string b = all;
    b[bit / 8] = static_cast<char>(b[bit / 8] ^ (1 << (bit % 8)));
    EXPECT_FALSE(DecodeEntry(b).ok()) << "bit " << bit;
  }
  std::string b = all;
  b[3] ^= 1;  // inside the magic
  EXPECT_EQ(Refusal(b), "not a hearth change-stream entry (bad magic)");
  b = all;
  b[9] ^= 1;  // the index
  EXPECT_EQ(Refusal(b), "entry header is damaged (header CRC mismatch)");
  b = all;
  b[b.size() - 1] ^= 1;
  EXPECT_EQ(Refusal(b), "entry 7 is damaged (body CRC mismatch)");
}

TEST(Entry, NewerFormatAndKindsAskForANewerHearth) {
  Samples s;
  std::string good = Encode(s.Entries().back().second);  // the no-op, index 1
  std::string all = Encode(s.Entries()[10].second);      // all kinds, index 7
  std::string b = good;
  PutLe(&b, 4, 2, 2);
  Reseal(&b);
  EXPECT_EQ(Refusal(b),
            "entry 1 was written by a newer hearth (entry format 2); this hearth reads format 1: "
            "upgrade hearth");
  b = good;
  PutLe(&b, 6, 5, 2);
  Reseal(&b);
  EXPECT_EQ(Refusal(b),
            "entry 1 has kind 5, written by a newer hearth; this hearth knows kinds 1-4: upgrade "
            "hearth");
  b = good;
  PutLe(&b, 6, 0, 2);
  Reseal(&b);
  EXPECT_NE(Refusal(b).find("has kind 0"), std::string::npos);
  // The first op starts after the header and "apps/shop.db" padded to 16.
  b = all;
  PutLe(&b, 64 + 16, 11, 2);
  Reseal(&b);
  EXPECT_EQ(Refusal(b),
            "entry 7 op 0 has kind 11, written by a newer hearth; this hearth knows op kinds 1-10: "
            "upgrade hearth");
}

TEST(Entry, LengthFieldIsBounded) {
  Samples s;
  std::string good = Encode(s.Entries().back().second);
  for (uint64_t length : {uint64_t{0}, uint64_t{56}, uint64_t{good.size() + 4},
                          (uint64_t{1} << 30) + 8, ~uint64_t{7}}) {
    std::string b = good;
    PutLe(&b, 40, length, 8);
    Reseal(&b);
    EXPECT_EQ(Refusal(b), "entry 1 has an impossible length (" + std::to_string(length) + ")");
  }
  std::string b = good;
  PutLe(&b, 40, good.size() + 8, 8);
  Reseal(&b);
  EXPECT_NE(Refusal(b).find("is truncated: its header says"), std::string::npos);
}

TEST(Entry, StructureIsChecked) {
  Samples s;
  EntryView e;
  e.index = 3;
  e.database = "hearth.db";                         // 9 bytes: 7 of padding
  e.ops = {{OpKind::kDdl, "CREATE TABLE a (x);"}};  // 19 bytes: 5 of padding
  const std::string good = Encode(e);
  const size_t op = 64 + 16;

  std::string b = good;
  b[64 + 12] = 'x';  // name padding
  Reseal(&b);
  EXPECT_EQ(Refusal(b), "entry 3 has non-zero padding after its database name");
  b = good;
  b[op + 16 + 20] = 'x';  // payload padding
  Reseal(&b);
  EXPECT_EQ(Refusal(b), "entry 3 op 0 has non-zero padding");
  for (size_t at : {op + 2, op + 4, op + 7}) {  // flags, reserved
    b = good;
    b[at] = 1;
    Reseal(&b);
    EXPECT_EQ(Refusal(b), "entry 3 op 0 has non-zero flags or reserved fields") << at;
  }
  for (uint64_t len : {uint64_t{25}, uint64_t{1000}, ~uint64_t{0}, ~uint64_t{0} - 6}) {
    b = good;
    PutLe(&b, op + 8, len, 8);
    Reseal(&b);
    EXPECT_EQ(Refusal(b), "entry 3 op 0 runs past the entry's end") << len;
  }
  b = good;
  PutLe(&b, 48, 2, 4);  // op count: one more than there is
  Reseal(&b);
  EXPECT_EQ(Refusal(b), "entry 3 op 1 runs past the entry's end");
  b = good;
  PutLe(&b, 48, 3, 4);  // more than 40 bytes of ops could hold
  Reseal(&b);
  EXPECT_EQ(Refusal(b), "entry 3 claims more ops (3) than it can hold");
  b = good;
  PutLe(&b, 48, 0xFFFFFFFF, 4);
  Reseal(&b);
  EXPECT_NE(Refusal(b).find("claims more ops (4294967295)"), std::string::npos);
  b = good;
  PutLe(&b, 48, 0, 4);  // fewer: the op's bytes are left over
  Reseal(&b);
  EXPECT_EQ(Refusal(b), "entry 3 has bytes after its last op");
  b = good;
  PutLe(&b, 52, 4000, 4);  // name length past the end
  Reseal(&b);
  EXPECT_EQ(Refusal(b), "entry 3's database name runs past its end");
  // An op whose header fits but not its padded payload.
  b = good;
  b.resize(good.size() + 16, '\0');
  PutLe(&b, 40, b.size(), 8);
  PutLe(&b, 48, 2, 4);
  PutLe(&b, good.size(), 2, 2);
  PutLe(&b, good.size() + 8, 1, 8);
  Reseal(&b);
  EXPECT_EQ(Refusal(b), "entry 3 op 1 runs past the entry's end");
}

TEST(Entry, BadDatabaseNamesAreRefused) {
  for (std::string name : {"", "hearth.db2", "other.db", "apps/", "apps/.db", "apps/../x.db",
                           "apps/a/b.db", "apps/a.sqlite", "/apps/a.db", "apps/.hidden.db"}) {
    EntryView e;
    e.database = name;
    EXPECT_FALSE(EncodeEntry(e).ok()) << name;
    // The same name forged into a well-sealed entry.
    EntryView ok;
    ok.database = "hearth.db";
    std::string b = Encode(ok);
    b.resize(64);
    b += name;
    b.append((8 - name.size() % 8) % 8, '\0');
    PutLe(&b, 40, b.size(), 8);
    PutLe(&b, 52, name.size(), 4);
    Reseal(&b);
    EXPECT_EQ(Refusal(b), "entry 0 names no valid database") << name;
  }
}

TEST(Entry, OpPayloadsAreChecked) {
  const std::string sha(32, 's');
  struct Case {
    OpKind kind;
    std::string payload;
    const char* why;
  };
  std::string migration_reserved = EncodeMigration({1, "SELECT 1"});
  migration_reserved[5] = 1;
  std::string blob_reserved = EncodeBlobDelete({sha, "br"});
  blob_reserved[36] = 1;
  std::string blob_long = EncodeBlobDelete({sha, "br"}) + "x";
  const std::vector<Case> cases = {
      {OpKind::kDdl, "", "ddl op has no usable SQL"},
      {OpKind::kDdl, std::string("SELECT 1;\0DROP", 14), "ddl op has no usable SQL"},
      {OpKind::kMigration, "1234", "migration payload is truncated"},
      {OpKind::kMigration, migration_reserved, "migration reserved field is not 0"},
      {OpKind::kMigration, EncodeMigration({1, ""}), "migration op has no usable SQL"},
      {OpKind::kSequence, EncodeSequence({1, ""}), "sequence op has no usable table name"},
      {OpKind::kSequence, "1234567", "sequence payload is truncated"},
      {OpKind::kBlobDelete, sha.substr(0, 31), "blob-delete payload is truncated"},
      {OpKind::kBlobDelete, blob_reserved, "blob-delete reserved field is not 0"},
      {OpKind::kBlobDelete, blob_long, "blob-delete payload length does not match its contents"},
      {OpKind::kBlobDelete, EncodeBlobDelete({sha, "lz4"}),
       "blob-delete names an unknown encoding"},
      {OpKind::kBlobPut, EncodeBlobPut({1, 2, sha, sha, "deflate"}),
       "blob-put names an unknown encoding"},
      {OpKind::kBlobPut, EncodeBlobPut({1, 2, sha, sha, ""}).substr(0, 79),
       "blob-put payload is truncated"},
      {OpKind::kFilePut, EncodeFilePut({1, sha, "c/r/../x"}),
       "file-put path is not <collection>/<record>/<name>"},
      {OpKind::kFilePut, EncodeFilePut({1, sha, "c/r"}),
       "file-put path is not <collection>/<record>/<name>"},
      {OpKind::kFileDelete, "c/r/n/extra", "file-delete path is not <collection>/<record>/<name>"},
      {OpKind::kFileDelete, "/c/r/n", "file-delete path is not <collection>/<record>/<name>"},
      {OpKind::kFileDelete, "c//n", "file-delete path is not <collection>/<record>/<name>"},
      {OpKind::kFileDeleteTree, "..", "file-delete-tree path is not <collection>"},
      {OpKind::kFileDeleteTree, "c/r", "file-delete-tree path is not <collection>"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.why);
    EXPECT_EQ(CheckOpPayload(c.kind, c.payload), c.why);
    EntryView e;
    e.index = 5;
    e.database = "hearth.db";
    e.ops = {{c.kind, c.payload}};
    auto encoded = EncodeEntry(e);
    ASSERT_FALSE(encoded.ok());
    EXPECT_EQ(encoded.error().message, std::string("an entry cannot hold this op: ") + c.why);
    // Forged: a valid entry whose op payload is swapped for the bad one.
    e.ops = {{OpKind::kChangeset, c.payload}};
    std::string b = Encode(e);
    PutLe(&b, 64 + 16, static_cast<uint16_t>(c.kind), 2);
    Reseal(&b);
    EXPECT_EQ(Refusal(b), std::string("entry 5 op 0: ") + c.why);
  }
  EXPECT_EQ(CheckOpPayload(OpKind::kChangeset, ""), "");
  EXPECT_EQ(CheckOpPayload(OpKind::kFileDeleteTree, "abc_123"), "");
}

TEST(Entry, EncodeRefusesWhatDecodeWould) {
  EntryView e;
  e.database = "hearth.db";
  e.kind = static_cast<EntryKind>(5);
  EXPECT_EQ(EncodeEntry(e).error().message, "an entry cannot have kind 5");
  e.kind = EntryKind::kWrites;
  e.ops = {{static_cast<OpKind>(11), "x"}};
  EXPECT_EQ(EncodeEntry(e).error().message, "an entry cannot hold op kind 11");
  // Over 1 GiB: refused from the lengths alone, before a byte is read (the
  // view's size is a lie the encoder never gets to act on).
  static const char kSmall[8] = {};
  e.index = 9;
  e.ops = {{OpKind::kChangeset, std::string_view(kSmall, kMaxEntryLength - 64)}};
  EXPECT_EQ(EncodeEntry(e).error().message,
            "entry 9 would be over 1 GiB: commit in smaller batches");
}

TEST(Entry, StampRewritesIndexAndHeaderCrcOnly) {
  Samples s;
  EntryView e = s.Entries()[10].second;
  std::string bytes = Encode(e);
  std::string body = bytes.substr(56);  // body CRC and body
  body.erase(4, 4);                     // without the header CRC
  StampEntry(&bytes, 123456789, 77, -5);
  auto d = DecodeEntry(bytes);
  ASSERT_TRUE(d.ok()) << d.error().message;
  EXPECT_EQ(d->index, 123456789u);
  EXPECT_EQ(d->origin_seq, 77u);
  EXPECT_EQ(d->commit_time_us, -5);
  EXPECT_EQ(d->origin_node, e.origin_node);
  std::string after = bytes.substr(56);
  after.erase(4, 4);
  EXPECT_EQ(after, body);
  e.index = 123456789;
  e.origin_seq = 77;
  e.commit_time_us = -5;
  EXPECT_EQ(Encode(e), bytes);
}

// The fuzz target's seeds are the sample entries; HEARTH_WRITE_SEEDS=1
// rewrites them after a format change.
TEST(Entry, FuzzSeedsAreTheSamples) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(HEARTH_SOURCE_DIR) / "fuzz/corpus/entry";
  const char* write = std::getenv("HEARTH_WRITE_SEEDS");
  Samples s;
  for (const auto& [name, e] : s.Entries()) {
    std::string bytes = Encode(e);
    if (write && std::string(write) == "1") {
      fs::create_directories(dir);
      std::ofstream(dir / name, std::ios::binary) << bytes;
    }
    std::ifstream in(dir / name, std::ios::binary);
    std::stringstream seed;
    seed << in.rdbuf();
    EXPECT_EQ(seed.str(), bytes) << name;
  }
}

}  // namespace
}  // namespace hearth::store
