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

std::string Must(Result<std::string> r) {
  EXPECT_TRUE(r.ok()) << r.error().message;
  return r.ok() ? *r : std::string();
}

// Payloads kept alive for the views of the entries built from them.
struct Samples {
  std::string blob_put = Must(EncodeBlobPut({4096, 1765000000000, kSha, kHash, "zstd"}));
  std::string blob_delete = Must(EncodeBlobDelete({kHash, ""}));
  std::string file_put = Must(EncodeFilePut({12, kSha, "c0ll3ct10n/r3c0rd/photo_ab12.png"}));
  std::string sequence = Must(EncodeSequence({42, "admin_users"}));
  std::string migration = Must(EncodeMigration({9, "ALTER TABLE sites ADD COLUMN x TEXT;"}));
  std::string changeset = std::string("T\x02\x00\x01\x00", 5) + "sites" + std::string(3, '\0');

  // One entry per op kind, then a writes entry holding every op a writes
  // entry may, a migration with data, and a no-op (named as the seeds in
  // fuzz/corpus/entry/ are).
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
      e.term = i;
      e.origin_node = 0x1122334455667788;
      e.origin_seq = 100 + i;
      e.commit_time_us = 1765000000000000 + static_cast<int64_t>(i);
      e.generation = 0x0102030405060708;
      e.database = i % 2 ? "hearth.db" : "apps/blog.example.com.db";
      e.ops.push_back({ops[i].first, ops[i].second});
      if (e.kind == EntryKind::kWrites) all.ops.push_back({ops[i].first, ops[i].second});
      out.emplace_back(names[i], e);
    }
    all.index = 7;
    all.database = "apps/shop.db";
    out.emplace_back("all-writes", all);
    EntryView migration_with_data;
    migration_with_data.kind = EntryKind::kMigration;
    migration_with_data.index = 8;
    migration_with_data.database = "apps/shop.db";
    migration_with_data.ops = {{OpKind::kMigration, migration}, {OpKind::kChangeset, changeset}};
    out.emplace_back("migration-with-data", migration_with_data);
    EntryView noop;
    noop.kind = EntryKind::kNoOp;
    noop.index = 1;
    noop.term = 3;
    noop.database = "hearth.db";
    out.emplace_back("no-op", noop);
    return out;
  }
  EntryView All() const { return Entries()[10].second; }
  EntryView NoOp() const { return Entries().back().second; }
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
  PutLe(b, 80, Crc32c(std::string_view(*b).substr(88)), 4);
  PutLe(b, 84, Crc32c(std::string_view(*b).substr(0, 84)), 4);
}

// The refusal's message; its fault must be `fault`.
std::string Refusal(const std::string& bytes, EntryFault fault = EntryFault::kInvalid) {
  EntryFault got = EntryFault::kNone;
  auto r = DecodeEntry(bytes, &got);
  EXPECT_EQ(static_cast<int>(got), static_cast<int>(fault)) << (r.ok() ? "" : r.error().message);
  return r.ok() ? std::string("(accepted)") : r.error().message;
}

const std::string kUpgrade =
    ": upgrade hearth (docs/store.md lists which release reads which entry format)";

void ExpectSame(const EntryView& a, const EntryView& b) {
  EXPECT_EQ(a.kind, b.kind);
  EXPECT_EQ(a.index, b.index);
  EXPECT_EQ(a.term, b.term);
  EXPECT_EQ(a.generation, b.generation);
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
    EXPECT_EQ(d->database.data(), bytes.data() + 88);
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
  const std::string sequence = Must(EncodeSequence({-3, "t"}));  // the decoded views point into it
  auto sq = DecodeSequence(sequence);
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
    EXPECT_EQ(bytes.size(), 88 + pad(name.size()) + 16 + pad(n) + 16 + pad(n - 1)) << n;
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
  std::string bytes = Encode(s.All());  // index 7
  for (size_t n = 0; n < bytes.size(); ++n) {
    EntryFault fault = EntryFault::kNone;
    EXPECT_FALSE(DecodeEntry(std::string_view(bytes).substr(0, n), &fault).ok()) << n;
    EXPECT_EQ(static_cast<int>(fault), static_cast<int>(EntryFault::kTruncated)) << n;
  }
  EXPECT_EQ(Refusal(bytes.substr(0, 40), EntryFault::kTruncated),
            "entry is truncated: 40 bytes, shorter than its 88-byte header");
  EXPECT_EQ(Refusal(bytes.substr(0, 96), EntryFault::kTruncated),
            "entry 7 is truncated: its header says " + std::to_string(bytes.size()) +
                " bytes, 96 are there");
}

// A power loss often leaves zeros where the log's next entry would be.
TEST(Entry, AZeroFilledTailIsATornTail) {
  EXPECT_EQ(Refusal(std::string(4096, '\0'), EntryFault::kTruncated),
            "entry is truncated: zeros where a header should be");
  EXPECT_EQ(Refusal(std::string(10, '\0'), EntryFault::kTruncated), "entry is truncated: 10 bytes");
  EXPECT_EQ(Refusal("", EntryFault::kTruncated), "entry is truncated: 0 bytes");
}

TEST(Entry, AFlippedBitAnywhereIsRefused) {
  Samples s;
  std::string all = Encode(s.All());
  for (size_t bit = 0; bit < all.size() * 8; ++bit) {
    std::string b = all;
    b[bit / 8] = static_cast<char>(b[bit / 8] ^ (1 << (bit % 8)));
    EntryFault fault = EntryFault::kNone;
    EXPECT_FALSE(DecodeEntry(b, &fault).ok()) << "bit " << bit;
    // Damage, never "newer": the CRCs are checked before the format is read.
    EXPECT_EQ(static_cast<int>(fault), static_cast<int>(EntryFault::kDamaged)) << "bit " << bit;
  }
  std::string b = all;
  b[3] ^= 1;  // inside the magic
  EXPECT_EQ(Refusal(b, EntryFault::kDamaged), "no change-stream entry starts here (bad magic)");
  b = all;
  b[17] ^= 1;  // the index
  EXPECT_EQ(Refusal(b, EntryFault::kDamaged), "entry header is damaged (header CRC mismatch)");
  b = all;
  b[8] ^= 8;  // the header length: 88 -> 80
  EXPECT_EQ(Refusal(b, EntryFault::kDamaged),
            "entry header is damaged (header length 80 for format 1)");
  b = all;
  b[9] ^= 16;  // the header length: 88 -> 4184, past the bytes (not a torn tail)
  EXPECT_EQ(Refusal(b, EntryFault::kDamaged),
            "entry header is damaged (header length 4184 for format 1)");
  b = all;
  b[b.size() - 1] ^= 1;
  EXPECT_EQ(Refusal(b, EntryFault::kDamaged), "entry 7 is damaged (body CRC mismatch)");
}

TEST(Entry, NewerFormatKindsAndFlagsAskForANewerHearth) {
  Samples s;
  std::string good = Encode(s.NoOp());  // index 1
  std::string all = Encode(s.All());    // index 7
  std::string b = good;
  PutLe(&b, 4, 2, 2);
  Reseal(&b);
  EXPECT_EQ(Refusal(b, EntryFault::kNewer),
            "entry 1 was written by a newer hearth (entry format 2; this hearth reads format 1)" +
                kUpgrade);
  b = good;
  PutLe(&b, 6, 5, 2);
  Reseal(&b);
  EXPECT_EQ(
      Refusal(b, EntryFault::kNewer),
      "entry 1 has kind 5, written by a newer hearth (this hearth knows kinds 1-4)" + kUpgrade);
  b = good;
  PutLe(&b, 12, 1, 4);
  Reseal(&b);
  EXPECT_EQ(Refusal(b, EntryFault::kNewer),
            "entry 1 uses header flags this hearth does not know" + kUpgrade);
  // The first op starts after the header and "apps/shop.db" padded to 16.
  const size_t op = 88 + 16;
  b = all;
  PutLe(&b, op, 11, 2);
  Reseal(&b);
  EXPECT_EQ(
      Refusal(b, EntryFault::kNewer),
      "entry 7 op 0 has kind 11, written by a newer hearth (this hearth knows op kinds 1-10)" +
          kUpgrade);
  b = all;
  PutLe(&b, op + 2, 1, 2);
  Reseal(&b);
  EXPECT_EQ(Refusal(b, EntryFault::kNewer),
            "entry 7 op 0 uses op flags this hearth does not know" + kUpgrade);
}

// A newer format may grow its header: this hearth still finds the header CRC
// (the header's last 4 bytes) and says "newer", not "damaged".
TEST(Entry, ALongerHeaderOfANewerFormatReadsAsNewer) {
  Samples s;
  std::string good = Encode(s.NoOp());
  std::string b = good.substr(0, 84) + std::string(16, '\0') + good.substr(88);
  PutLe(&b, 4, 2, 2);
  PutLe(&b, 8, 104, 4);
  PutLe(&b, 100, Crc32c(std::string_view(b).substr(0, 100)), 4);
  EXPECT_EQ(Refusal(b, EntryFault::kNewer),
            "entry 1 was written by a newer hearth (entry format 2; this hearth reads format 1)" +
                kUpgrade);
  // Cut inside the longer header: a torn tail.
  EXPECT_EQ(Refusal(b.substr(0, 96), EntryFault::kTruncated),
            "entry is truncated: 96 bytes, shorter than its 104-byte header");
  // The same header claiming format 1 is damage: format 1's header is 88.
  PutLe(&b, 4, 1, 2);
  PutLe(&b, 100, Crc32c(std::string_view(b).substr(0, 100)), 4);
  EXPECT_EQ(Refusal(b, EntryFault::kDamaged),
            "entry header is damaged (header length 104 for format 1)");
  PutLe(&b, 4, 2, 2);
  PutLe(&b, 8, 4104, 4);  // over any format's bound
  EXPECT_EQ(Refusal(b, EntryFault::kDamaged),
            "entry header is damaged (header length 4104 for format 2)");
}

TEST(Entry, ZeroKindsAreInvalidNotNewer) {
  Samples s;
  std::string good = Encode(s.NoOp());
  std::string all = Encode(s.All());
  std::string b = good;
  PutLe(&b, 4, 0, 2);
  Reseal(&b);
  EXPECT_EQ(Refusal(b), "entry 1 has entry format 0, which no hearth writes (damaged or forged)");
  b = good;
  PutLe(&b, 6, 0, 2);
  Reseal(&b);
  EXPECT_EQ(Refusal(b), "entry 1 has kind 0, which no hearth writes");
  b = all;
  PutLe(&b, 88 + 16, 0, 2);
  Reseal(&b);
  EXPECT_EQ(Refusal(b), "entry 7 op 0 has kind 0, which no hearth writes");
}

TEST(Entry, LengthFieldIsBounded) {
  Samples s;
  std::string good = Encode(s.NoOp());
  for (uint64_t length : {uint64_t{0}, uint64_t{80}, uint64_t{good.size() + 4},
                          (uint64_t{1} << 30) + 8, ~uint64_t{7}}) {
    std::string b = good;
    PutLe(&b, 64, length, 8);
    Reseal(&b);
    EXPECT_EQ(Refusal(b), "entry 1 has an impossible length (" + std::to_string(length) + ")");
  }
  std::string b = good;
  PutLe(&b, 64, good.size() + 8, 8);
  Reseal(&b);
  EXPECT_NE(Refusal(b, EntryFault::kTruncated).find("is truncated: its header says"),
            std::string::npos);
}

// Exactly 1 GiB is allowed; the refusal starts one step above it.
TEST(Entry, OneGibIsTheLimit) {
  // The short tier: a length of exactly 1 GiB is allowed (the refusal is that
  // the bytes are missing), one step more is not.
  Samples s;
  std::string b = Encode(s.NoOp());
  PutLe(&b, 64, kMaxEntryLength, 8);
  Reseal(&b);
  EXPECT_NE(Refusal(b, EntryFault::kTruncated).find("its header says 1073741824 bytes"),
            std::string::npos);
  // The full tier (make soak) builds a real 1 GiB entry: 2 GiB of memory, seconds.
  const char* soak = std::getenv("HEARTH_SOAK");
  if (!soak || std::string(soak) != "1") GTEST_SKIP() << "1 GiB entry only under HEARTH_SOAK=1";
  std::string name = "apps/a.db";  // 9 bytes, padded to 16
  std::string payload(kMaxEntryLength - 88 - 16 - 16, 'x');
  EntryView e;
  e.database = name;
  e.ops = {{OpKind::kChangeset, payload}};
  auto bytes = EncodeEntry(e);
  ASSERT_TRUE(bytes.ok()) << bytes.error().message;
  EXPECT_EQ(bytes->size(), kMaxEntryLength);
  auto d = DecodeEntry(*bytes);
  ASSERT_TRUE(d.ok()) << d.error().message;
  EXPECT_EQ(d->ops[0].payload.size(), payload.size());
  // One byte more pads to 8 more: refused from the sizes, before a byte is
  // read (the view is over the 1 GiB just made, so no more memory is used).
  e.ops = {{OpKind::kChangeset, std::string_view(*bytes).substr(0, payload.size() + 1)}};
  auto over = EncodeEntry(e);
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.error().message,
            "a transaction on apps/a.db makes a change-stream entry of over 1024 MiB (the limit is "
            "1 GiB)");
}

TEST(Entry, StructureIsChecked) {
  EntryView e;
  e.index = 3;
  e.database = "hearth.db";                         // 9 bytes: 7 of padding
  e.ops = {{OpKind::kDdl, "CREATE TABLE a (x);"}};  // 19 bytes: 5 of padding
  const std::string good = Encode(e);
  const size_t op = 88 + 16;

  std::string b = good;
  b[88 + 12] = 'x';  // name padding
  Reseal(&b);
  EXPECT_EQ(Refusal(b), "entry 3 has non-zero padding after its database name");
  b = good;
  b[op + 16 + 20] = 'x';  // payload padding
  Reseal(&b);
  EXPECT_EQ(Refusal(b), "entry 3 op 0 has non-zero padding");
  for (size_t at : {op + 4, op + 7}) {  // reserved
    b = good;
    b[at] = 1;
    Reseal(&b);
    EXPECT_EQ(Refusal(b), "entry 3 op 0 has a non-zero reserved field") << at;
  }
  for (uint64_t len : {uint64_t{25}, uint64_t{1000}, ~uint64_t{0}, ~uint64_t{0} - 6}) {
    b = good;
    PutLe(&b, op + 8, len, 8);
    Reseal(&b);
    EXPECT_EQ(Refusal(b), "entry 3 op 0 runs past the entry's end") << len;
  }
  b = good;
  PutLe(&b, 72, 2, 4);  // op count: one more than there is
  Reseal(&b);
  EXPECT_EQ(Refusal(b), "entry 3 op 1 runs past the entry's end");
  b = good;
  PutLe(&b, 72, 3, 4);  // more than 40 bytes of ops could hold
  Reseal(&b);
  EXPECT_EQ(Refusal(b), "entry 3 claims more ops (3) than it can hold");
  b = good;
  PutLe(&b, 72, 0xFFFFFFFF, 4);
  Reseal(&b);
  EXPECT_NE(Refusal(b).find("claims more ops (4294967295)"), std::string::npos);
  b = good;
  PutLe(&b, 72, 0, 4);  // fewer: the op's bytes are left over
  Reseal(&b);
  EXPECT_EQ(Refusal(b), "entry 3 has bytes after its last op");
  b = good;
  PutLe(&b, 76, 4000, 4);  // name length past the end
  Reseal(&b);
  EXPECT_EQ(Refusal(b), "entry 3's database name runs past its end");
  // An op whose header fits but not its padded payload.
  b = good;
  b.resize(good.size() + 16, '\0');
  PutLe(&b, 64, b.size(), 8);
  PutLe(&b, 72, 2, 4);
  PutLe(&b, good.size(), 2, 2);
  PutLe(&b, good.size() + 8, 1, 8);
  Reseal(&b);
  EXPECT_EQ(Refusal(b), "entry 3 op 1 runs past the entry's end");
}

// Apply switches on the kind, so a kind whose ops do not fit it is refused
// on both sides, and a forged one that is sealed correctly too.
TEST(Entry, KindMustFitItsOps) {
  Samples s;
  const std::string image = "SQLite format 3";
  struct Case {
    EntryKind kind;
    std::string database;
    std::vector<EntryOp> ops;
    const char* why;
  };
  const std::vector<Case> cases = {
      {EntryKind::kWrites, "hearth.db", {}, "a writes entry holds no ops"},
      {EntryKind::kWrites,
       "apps/a.db",
       {{OpKind::kChangeset, s.changeset}, {OpKind::kDatabaseImage, image}},
       "a writes entry holds a database image or a migration"},
      {EntryKind::kWrites,
       "hearth.db",
       {{OpKind::kMigration, s.migration}},
       "a writes entry holds a database image or a migration"},
      {EntryKind::kMigration,
       "hearth.db",
       {{OpKind::kChangeset, s.changeset}},
       "a migration entry holds no migration op"},
      {EntryKind::kMigration,
       "apps/a.db",
       {{OpKind::kMigration, s.migration}, {OpKind::kDatabaseImage, image}},
       "a migration entry holds a database image"},
      {EntryKind::kCreateDatabase,
       "hearth.db",
       {{OpKind::kDatabaseImage, image}},
       "a create-database entry must name an apps/ database"},
      {EntryKind::kCreateDatabase,
       "apps/a.db",
       {},
       "a create-database entry must hold exactly one database image"},
      {EntryKind::kCreateDatabase,
       "apps/a.db",
       {{OpKind::kDatabaseImage, image}, {OpKind::kChangeset, s.changeset}},
       "a create-database entry must hold exactly one database image"},
      {EntryKind::kNoOp, "apps/a.db", {}, "a no-op entry must name hearth.db"},
      {EntryKind::kNoOp,
       "hearth.db",
       {{OpKind::kChangeset, s.changeset}},
       "a no-op entry holds ops"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.why);
    EXPECT_EQ(CheckEntryShape(c.kind, c.database, c.ops), c.why);
    EntryView e;
    e.index = 9;
    e.kind = c.kind;
    e.database = c.database;
    e.ops = c.ops;
    auto encoded = EncodeEntry(e);
    ASSERT_FALSE(encoded.ok());
    EXPECT_EQ(encoded.error().message, std::string("an entry cannot be encoded: ") + c.why);
    // Forged: encoded under a kind that fits, then the kind swapped and resealed.
    bool has_image = false, has_migration = false;
    for (const EntryOp& op : c.ops) {
      has_image |= op.kind == OpKind::kDatabaseImage;
      has_migration |= op.kind == OpKind::kMigration;
    }
    e.kind = c.ops.empty()   ? EntryKind::kNoOp
             : has_image     ? EntryKind::kCreateDatabase
             : has_migration ? EntryKind::kMigration
                             : EntryKind::kWrites;
    if (e.kind == c.kind) continue;  // the kind fits: the name or op count is what is wrong
    if (e.kind == EntryKind::kNoOp) e.database = "hearth.db";
    if (e.kind == EntryKind::kCreateDatabase) e.ops = {{OpKind::kDatabaseImage, image}};
    std::string b = Encode(e);
    PutLe(&b, 6, static_cast<uint16_t>(c.kind), 2);
    Reseal(&b);
    EXPECT_EQ(Refusal(b).rfind("entry 9: a ", 0), 0u);  // refused as invalid, by its shape
  }
}

TEST(Entry, BadDatabaseNamesAreRefused) {
  for (std::string name : {"", "hearth.db2", "other.db", "apps/", "apps/.db", "apps/../x.db",
                           "apps/a/b.db", "apps/a.sqlite", "/apps/a.db", "apps/.hidden.db"}) {
    EntryView e;
    e.database = name;
    e.ops = {{OpKind::kDdl, "SELECT 1"}};
    EXPECT_FALSE(EncodeEntry(e).ok()) << name;
    // The same name forged into a well-sealed entry.
    EntryView ok;
    ok.kind = EntryKind::kNoOp;
    ok.database = "hearth.db";
    std::string b = Encode(ok);
    b.resize(88);
    b += name;
    b.append((8 - name.size() % 8) % 8, '\0');
    PutLe(&b, 64, b.size(), 8);
    PutLe(&b, 76, name.size(), 4);
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
  std::string migration_reserved = Must(EncodeMigration({1, "SELECT 1"}));
  migration_reserved[5] = 1;
  std::string blob_reserved = Must(EncodeBlobDelete({sha, "br"}));
  blob_reserved[36] = 1;
  std::string blob_long = Must(EncodeBlobDelete({sha, "br"})) + "x";
  std::string migration_empty = Must(EncodeMigration({1, "SELECT 1"})).substr(0, 8);
  std::string sequence_empty = Must(EncodeSequence({1, "t"})).substr(0, 8);
  std::string blob_put_bad = Must(EncodeBlobPut({1, 2, sha, sha, "br"}));
  blob_put_bad.replace(blob_put_bad.size() - 2, 2, "lz");
  const std::vector<Case> cases = {
      {OpKind::kDdl, "", "ddl op has no usable SQL"},
      {OpKind::kDdl, std::string("SELECT 1;\0DROP", 14), "ddl op has no usable SQL"},
      {OpKind::kDdl, "SELECT '\xff'", "ddl op has no usable SQL"},
      {OpKind::kMigration, "1234", "migration payload is truncated"},
      {OpKind::kMigration, migration_reserved, "migration reserved field is not 0"},
      {OpKind::kMigration, migration_empty, "migration op has no usable SQL"},
      {OpKind::kSequence, sequence_empty, "sequence op has no usable table name"},
      {OpKind::kSequence, sequence_empty + "a b", "sequence op has no usable table name"},
      {OpKind::kSequence, sequence_empty + "1t", "sequence op has no usable table name"},
      {OpKind::kSequence, "1234567", "sequence payload is truncated"},
      {OpKind::kBlobDelete, sha.substr(0, 31), "blob-delete payload is truncated"},
      {OpKind::kBlobDelete, blob_reserved, "blob-delete reserved field is not 0"},
      {OpKind::kBlobDelete, blob_long, "blob-delete payload length does not match its contents"},
      {OpKind::kBlobPut, blob_put_bad, "blob-put names an unknown encoding"},
      {OpKind::kBlobPut, Must(EncodeBlobPut({1, 2, sha, sha, ""})).substr(0, 79),
       "blob-put payload is truncated"},
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
    PutLe(&b, 88 + 16, static_cast<uint16_t>(c.kind), 2);
    Reseal(&b);
    EXPECT_EQ(Refusal(b), std::string("entry 5 op 0: ") + c.why);
  }
  EXPECT_EQ(CheckOpPayload(OpKind::kChangeset, ""), "");
  EXPECT_EQ(CheckOpPayload(OpKind::kFileDeleteTree, "abc_123"), "");
}

// The typed encoders refuse what their decoders would, so a writer's bug is
// caught where it is made, not on a replica.
TEST(Entry, TypedEncodersRefuseBadFields) {
  const std::string sha(32, 's');
  const std::string short_sha(31, 's'), long_sha(33, 's');
  EXPECT_EQ(EncodeBlobPut({1, 2, short_sha, sha, ""}).error().message,
            "blob-put needs a 32-byte hash");
  EXPECT_EQ(EncodeBlobPut({1, 2, sha, long_sha, ""}).error().message,
            "blob-put needs a 32-byte hash");
  EXPECT_EQ(EncodeBlobPut({1, 2, sha, sha, "deflate"}).error().message,
            "blob-put names an unknown encoding");
  EXPECT_EQ(EncodeBlobDelete({long_sha, ""}).error().message, "blob-delete needs a 32-byte hash");
  EXPECT_EQ(EncodeBlobDelete({sha, "lz4"}).error().message,
            "blob-delete names an unknown encoding");
  EXPECT_EQ(EncodeFilePut({1, short_sha, "c/r/n"}).error().message,
            "file-put needs a 32-byte hash");
  EXPECT_EQ(EncodeFilePut({1, sha, "c/r/../x"}).error().message,
            "file-put path is not <collection>/<record>/<name>");
  EXPECT_EQ(EncodeFilePut({1, sha, "c/r"}).error().message,
            "file-put path is not <collection>/<record>/<name>");
  EXPECT_EQ(EncodeSequence({1, ""}).error().message, "sequence op has no usable table name");
  EXPECT_EQ(EncodeSequence({1, "t;drop"}).error().message, "sequence op has no usable table name");
  EXPECT_EQ(EncodeMigration({1, ""}).error().message, "migration op has no usable SQL");
  EXPECT_TRUE(EncodeSequence({1, "_t9"}).ok());
}

TEST(Entry, EncodeRefusesWhatDecodeWould) {
  EntryView e;
  e.database = "hearth.db";
  e.kind = static_cast<EntryKind>(5);
  EXPECT_EQ(EncodeEntry(e).error().message, "an entry cannot have kind 5");
  e.kind = EntryKind::kWrites;
  e.ops = {{static_cast<OpKind>(11), "x"}};
  EXPECT_EQ(EncodeEntry(e).error().message, "an entry cannot hold op kind 11");
  e.ops = {{static_cast<OpKind>(0), "x"}};
  EXPECT_EQ(EncodeEntry(e).error().message, "an entry cannot hold op kind 0");
}

TEST(Entry, StampRewritesIndexAndHeaderCrcOnly) {
  Samples s;
  EntryView e = s.All();
  std::string bytes = Encode(e);
  std::string body = bytes.substr(80);  // body CRC and body
  body.erase(4, 4);                     // without the header CRC
  StampEntry(&bytes, 123456789, 77, -5);
  auto d = DecodeEntry(bytes);
  ASSERT_TRUE(d.ok()) << d.error().message;
  EXPECT_EQ(d->index, 123456789u);
  EXPECT_EQ(d->origin_seq, 77u);
  EXPECT_EQ(d->commit_time_us, -5);
  EXPECT_EQ(d->origin_node, e.origin_node);
  std::string after = bytes.substr(80);
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
