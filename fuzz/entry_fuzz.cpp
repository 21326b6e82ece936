// libFuzzer target for the change stream's entry codec (src/store/entry.h).
// Two halves, chosen by the input's first byte:
//  - bytes: the rest is decoded as given (CRCs and all) and "resealed" (both
//    CRCs recomputed), because random bytes almost never carry a right CRC and
//    the structure behind the checksums is what needs exploring. Whatever
//    decodes must re-encode to exactly its bytes, and must pass checks written
//    here without the codec's own predicates (so a decoder that accepts too
//    much is caught even when the encoder shares its mistake).
//  - structure: the rest drives a FuzzedDataProvider that builds an entry
//    from valid parts (and sometimes a bad one); what encodes must decode to
//    the same entry (so a decoder that refuses too much is caught).
#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/crc32c.h"
#include "store/entry.h"

#define CHECK(cond)                \
  do {                             \
    if (!(cond)) __builtin_trap(); \
  } while (0)

namespace {

using namespace hearth::store;

uint64_t GetLe(std::string_view in, size_t at, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= uint64_t{static_cast<unsigned char>(in[at + i])} << (8 * i);
  return v;
}

void PutLe(std::string* b, size_t at, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) (*b)[at + i] = static_cast<char>((v >> (8 * i)) & 0xFF);
}

uint64_t Pad8(uint64_t n) {
  return (n + 7) / 8 * 8;
}

// Plain names joined by '/', checked without the codec's SafeSegment.
bool PlainPath(std::string_view p) {
  if (p.empty() || p.front() == '/' || p.back() == '/') return false;
  size_t start = 0;
  while (start <= p.size()) {
    size_t slash = p.find('/', start);
    std::string_view part =
        p.substr(start, slash == std::string_view::npos ? p.npos : slash - start);
    if (part.empty() || part == "." || part == ".." || part.find('\0') != part.npos) return false;
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return true;
}

// The rules a decoded entry must satisfy, restated from docs/store.md.
void CheckIndependently(std::string_view bytes, const EntryView& e) {
  CHECK(e.length % 8 == 0 && e.length >= kEntryHeaderSize && e.length <= bytes.size());
  CHECK(e.length <= kMaxEntryLength);
  const char* begin = bytes.data() + kEntryHeaderSize;
  const char* end = bytes.data() + e.length;
  uint64_t total = kEntryHeaderSize + Pad8(e.database.size());
  CHECK(e.database == "hearth.db" ||
        (e.database.size() > 8 && e.database.substr(0, 5) == "apps/" &&
         e.database.substr(e.database.size() - 3) == ".db" && PlainPath(e.database)));
  CHECK(e.database.data() == begin);
  for (const EntryOp& op : e.ops) {
    CHECK(op.payload.data() >= begin && op.payload.data() + op.payload.size() <= end);
    total += 16 + Pad8(op.payload.size());
    if (op.kind == OpKind::kFileDelete || op.kind == OpKind::kFileDeleteTree)
      CHECK(PlainPath(op.payload));
    if (op.kind == OpKind::kFilePut) {
      auto p = DecodeFilePut(op.payload);
      CHECK(p.ok() && PlainPath(p->path) && p->sha256.size() == 32);
    }
  }
  CHECK(total == e.length);
  if (e.kind == EntryKind::kNoOp) CHECK(e.ops.empty() && e.database == "hearth.db");
  if (e.kind == EntryKind::kCreateDatabase)
    CHECK(e.ops.size() == 1 && e.ops[0].kind == OpKind::kDatabaseImage &&
          e.database != "hearth.db");
  for (const EntryOp& op : e.ops) {
    if (e.kind != EntryKind::kCreateDatabase) CHECK(op.kind != OpKind::kDatabaseImage);
    if (e.kind == EntryKind::kWrites) CHECK(op.kind != OpKind::kMigration);
  }
}

void CheckBytes(std::string_view bytes) {
  hearth::store::EntryFault fault = EntryFault::kNone;
  auto d = DecodeEntry(bytes, &fault);
  if (!d.ok()) {
    CHECK(!d.error().message.empty() && fault != EntryFault::kNone);
    return;
  }
  CHECK(fault == EntryFault::kNone);
  CheckIndependently(bytes, *d);
  auto again = EncodeEntry(*d);
  CHECK(again.ok());
  CHECK(*again == bytes.substr(0, d->length));
  for (const EntryOp& op : d->ops) {
    if (op.kind == OpKind::kBlobPut) {
      auto p = DecodeBlobPut(op.payload);
      CHECK(p.ok() && *EncodeBlobPut(*p) == op.payload);
    } else if (op.kind == OpKind::kBlobDelete) {
      auto p = DecodeBlobDelete(op.payload);
      CHECK(p.ok() && *EncodeBlobDelete(*p) == op.payload);
    } else if (op.kind == OpKind::kFilePut) {
      auto p = DecodeFilePut(op.payload);
      CHECK(p.ok() && *EncodeFilePut(*p) == op.payload);
    } else if (op.kind == OpKind::kSequence) {
      auto p = DecodeSequence(op.payload);
      CHECK(p.ok() && *EncodeSequence(*p) == op.payload);
    } else if (op.kind == OpKind::kMigration) {
      auto p = DecodeMigration(op.payload);
      CHECK(p.ok() && *EncodeMigration(*p) == op.payload);
    }
  }
  std::string stamped(*again);
  StampEntry(&stamped, ~d->index, d->origin_seq + 1, d->commit_time_us);
  auto restamped = DecodeEntry(stamped);
  CHECK(restamped.ok() && restamped->index == ~d->index);
}

void BytesHalf(std::string_view in) {
  CheckBytes(in);
  if (in.size() < kEntryHeaderSize) return;
  std::string sealed(in);
  uint64_t length = GetLe(sealed, 64, 8);
  size_t body_end = length >= kEntryHeaderSize && length <= in.size() ? length : in.size();
  PutLe(&sealed, 80, hearth::Crc32c(std::string_view(sealed).substr(88, body_end - 88)), 4);
  PutLe(&sealed, 84, hearth::Crc32c(std::string_view(sealed).substr(0, 84)), 4);
  CheckBytes(sealed);
}

// An op built from valid parts; `valid` says whether it should encode.
std::string MakeOp(FuzzedDataProvider& p, OpKind kind, bool* valid) {
  const std::string sha = p.ConsumeBytesAsString(32);
  const std::string hash = p.ConsumeBytesAsString(32);
  static const char* kEncodings[] = {"", "br", "zstd", "gzip"};
  static const char* kNames[] = {"c0ll", "rec_1", "photo.png", "a", "_x9"};
  auto name = [&] { return std::string(kNames[p.ConsumeIntegralInRange<int>(0, 4)]); };
  std::string path = name() + "/" + name() + "/" + name();
  hearth::Result<std::string> r = std::string();
  switch (kind) {
    case OpKind::kBlobPut:
      r = EncodeBlobPut({p.ConsumeIntegral<uint64_t>(), p.ConsumeIntegral<int64_t>(), sha, hash,
                         kEncodings[p.ConsumeIntegralInRange<int>(0, 3)]});
      break;
    case OpKind::kBlobDelete:
      r = EncodeBlobDelete({hash, kEncodings[p.ConsumeIntegralInRange<int>(0, 3)]});
      break;
    case OpKind::kFilePut:
      r = EncodeFilePut({p.ConsumeIntegral<uint64_t>(), sha, path});
      break;
    case OpKind::kFileDelete:
      r = path;
      break;
    case OpKind::kFileDeleteTree:
      r = name();
      break;
    case OpKind::kSequence:
      r = EncodeSequence({p.ConsumeIntegral<int64_t>(), "admin_users"});
      break;
    case OpKind::kMigration:
      r = EncodeMigration({p.ConsumeIntegral<uint32_t>(), "ALTER TABLE t ADD COLUMN c"});
      break;
    case OpKind::kDdl:
      r = std::string("CREATE TABLE t (id TEXT PRIMARY KEY NOT NULL)");
      break;
    case OpKind::kChangeset:
    case OpKind::kDatabaseImage:
      r = p.ConsumeRandomLengthString(256);
      break;
  }
  *valid = r.ok() && sha.size() == 32 && hash.size() == 32;
  if (!r.ok()) return {};
  if (p.ConsumeBool() && p.ConsumeBool() && p.ConsumeBool()) {
    *valid = false;  // sometimes a raw, probably bad payload instead
    return p.ConsumeRandomLengthString(64);
  }
  return *r;
}

void StructureHalf(const uint8_t* data, size_t size) {
  FuzzedDataProvider p(data, size);
  EntryView e;
  e.kind = static_cast<EntryKind>(p.ConsumeIntegralInRange<uint16_t>(1, kMaxEntryKind));
  e.index = p.ConsumeIntegral<uint64_t>();
  e.term = p.ConsumeIntegral<uint64_t>();
  e.origin_node = p.ConsumeIntegral<uint64_t>();
  e.origin_seq = p.ConsumeIntegral<uint64_t>();
  e.commit_time_us = p.ConsumeIntegral<int64_t>();
  e.generation = p.ConsumeIntegral<uint64_t>();
  static const char* kDatabases[] = {"hearth.db", "apps/a.db", "apps/blog.example.com.db",
                                     "apps/_wildcard.db"};
  e.database = kDatabases[p.ConsumeIntegralInRange<int>(0, 3)];
  std::vector<std::string> payloads;
  std::vector<OpKind> kinds;
  bool all_valid = true;
  int n = p.ConsumeIntegralInRange<int>(0, 8);
  for (int i = 0; i < n; ++i) {
    auto kind = static_cast<OpKind>(p.ConsumeIntegralInRange<uint16_t>(1, kMaxOpKind));
    bool valid = false;
    payloads.push_back(MakeOp(p, kind, &valid));
    kinds.push_back(kind);
    all_valid &= valid;
  }
  for (size_t i = 0; i < kinds.size(); ++i) e.ops.push_back({kinds[i], payloads[i]});
  auto bytes = EncodeEntry(e);
  if (all_valid && CheckEntryShape(e.kind, e.database, e.ops).empty()) CHECK(bytes.ok());
  if (!bytes.ok()) return;
  auto d = DecodeEntry(*bytes);
  CHECK(d.ok());
  CheckIndependently(*bytes, *d);
  CHECK(d->kind == e.kind && d->index == e.index && d->term == e.term &&
        d->origin_node == e.origin_node && d->origin_seq == e.origin_seq &&
        d->commit_time_us == e.commit_time_us && d->generation == e.generation &&
        d->database == e.database && d->ops.size() == e.ops.size() && d->length == bytes->size());
  for (size_t i = 0; i < e.ops.size(); ++i)
    CHECK(d->ops[i].kind == e.ops[i].kind && d->ops[i].payload == e.ops[i].payload);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  // The seeds in fuzz/corpus/entry/ are whole entries ('H' first): they feed
  // the bytes half as they are.
  if (data[0] == 'H') {
    BytesHalf(std::string_view(reinterpret_cast<const char*>(data), size));
  } else if (data[0] & 1) {
    BytesHalf(std::string_view(reinterpret_cast<const char*>(data) + 1, size - 1));
  } else {
    StructureHalf(data + 1, size - 1);
  }
  return 0;
}
