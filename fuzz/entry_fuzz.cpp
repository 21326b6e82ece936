// libFuzzer target for the change stream's entry codec (src/store/entry.h).
// Each input is decoded twice: as given (CRCs and all), and "resealed" (both
// CRCs recomputed over the input's own bytes), because random bytes almost
// never carry a right CRC and the structure behind the checksums is what
// needs exploring. Oracle: whatever decodes re-encodes to exactly the bytes
// it came from (Encode(Decode(x)) == x), decodes again to the same thing,
// survives a re-stamp of its index, and its typed op payloads parse.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

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

void Check(std::string_view bytes) {
  auto d = DecodeEntry(bytes);
  if (!d.ok()) {
    CHECK(!d.error().message.empty());
    return;
  }
  CHECK(d->length % 8 == 0 && d->length >= kEntryHeaderSize && d->length <= bytes.size());
  std::string_view exact = bytes.substr(0, d->length);
  auto again = EncodeEntry(*d);
  CHECK(again.ok());
  CHECK(*again == exact);
  auto twice = DecodeEntry(*again);
  CHECK(twice.ok() && twice->ops.size() == d->ops.size() && twice->database == d->database);
  for (const EntryOp& op : d->ops) {
    CHECK(CheckOpPayload(op.kind, op.payload).empty());
    if (op.kind == OpKind::kBlobPut) {
      auto p = DecodeBlobPut(op.payload);
      CHECK(p.ok() && EncodeBlobPut(*p) == op.payload);
    } else if (op.kind == OpKind::kBlobDelete) {
      auto p = DecodeBlobDelete(op.payload);
      CHECK(p.ok() && EncodeBlobDelete(*p) == op.payload);
    } else if (op.kind == OpKind::kFilePut) {
      auto p = DecodeFilePut(op.payload);
      CHECK(p.ok() && EncodeFilePut(*p) == op.payload);
    } else if (op.kind == OpKind::kSequence) {
      auto p = DecodeSequence(op.payload);
      CHECK(p.ok() && EncodeSequence(*p) == op.payload);
    } else if (op.kind == OpKind::kMigration) {
      auto p = DecodeMigration(op.payload);
      CHECK(p.ok() && EncodeMigration(*p) == op.payload);
    }
  }
  std::string stamped(*again);
  StampEntry(&stamped, ~d->index, d->origin_seq + 1, d->commit_time_us);
  auto restamped = DecodeEntry(stamped);
  CHECK(restamped.ok() && restamped->index == ~d->index);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  Check(in);
  if (size < kEntryHeaderSize) return 0;
  std::string sealed(in);
  uint64_t length = GetLe(sealed, 40, 8);
  size_t body_end = length >= kEntryHeaderSize && length <= size ? length : size;
  PutLe(&sealed, 56, hearth::Crc32c(std::string_view(sealed).substr(64, body_end - 64)), 4);
  PutLe(&sealed, 60, hearth::Crc32c(std::string_view(sealed).substr(0, 60)), 4);
  Check(sealed);
  return 0;
}
