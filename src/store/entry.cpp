#include "store/entry.h"

#include <cstring>

#include "base/crc32c.h"
#include "store/backup.h"

namespace hearth::store {
namespace {

constexpr size_t kHashSize = 32;

uint64_t Pad8(uint64_t n) {
  return (n + 7) & ~uint64_t{7};
}

// Fixed-width little-endian fields, written and read byte by byte so the
// format does not depend on the host.
void PutLe(std::string* out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

void SetLe(std::string* out, size_t at, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) (*out)[at + i] = static_cast<char>((v >> (8 * i)) & 0xFF);
}

uint64_t GetLe(std::string_view in, size_t at, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= uint64_t{static_cast<unsigned char>(in[at + i])} << (8 * i);
  return v;
}

void PadTo8(std::string* out) {
  out->append(Pad8(out->size()) - out->size(), '\0');
}

bool AllZero(std::string_view s) {
  for (char c : s)
    if (c != '\0') return false;
  return true;
}

bool IsDatabaseName(std::string_view name) {
  return name == "hearth.db" || (name.substr(0, 5) == "apps/" && SafeExtraName(std::string(name)));
}

bool IsEncoding(std::string_view e) {
  return e.empty() || e == "br" || e == "zstd" || e == "gzip";
}

// A name or SQL the writer put in: something to run or to name a table by,
// never containing NUL (SQLite's C API would cut it there).
bool IsText(std::string_view s, size_t max) {
  return !s.empty() && s.size() <= max && s.find('\0') == std::string_view::npos;
}

// u32 length, u32 0, then exactly that many bytes to the payload's end.
Result<std::string_view> TailString(std::string_view payload, size_t at, const char* what) {
  if (payload.size() < at + 8) return Error{std::string(what) + " payload is truncated"};
  uint64_t n = GetLe(payload, at, 4);
  if (GetLe(payload, at + 4, 4) != 0) return Error{std::string(what) + " reserved field is not 0"};
  if (payload.size() - at - 8 != n)
    return Error{std::string(what) + " payload length does not match its contents"};
  return payload.substr(at + 8);
}

void PutTailString(std::string* out, std::string_view s) {
  PutLe(out, s.size(), 4);
  PutLe(out, 0, 4);
  out->append(s);
}

std::string EntryName(uint64_t index) {
  return "entry " + std::to_string(index);
}

}  // namespace

bool IsEntryFilePath(std::string_view path, int parts) {
  for (int i = 0; i < parts; ++i) {
    size_t slash = path.find('/');
    bool last = i == parts - 1;
    if (last != (slash == std::string_view::npos)) return false;
    if (!SafeSegment(path.substr(0, slash))) return false;
    if (!last) path.remove_prefix(slash + 1);
  }
  return parts > 0;
}

std::string EncodeBlobPut(const BlobPutOp& op) {
  std::string out;
  PutLe(&out, op.size, 8);
  PutLe(&out, static_cast<uint64_t>(op.created_at), 8);
  out.append(op.sha256);
  out.append(op.hash);
  PutTailString(&out, op.encoding);
  return out;
}

Result<BlobPutOp> DecodeBlobPut(std::string_view payload) {
  constexpr size_t kFixed = 16 + 2 * kHashSize;
  if (payload.size() < kFixed) return Error{"blob-put payload is truncated"};
  BlobPutOp op;
  op.size = GetLe(payload, 0, 8);
  op.created_at = static_cast<int64_t>(GetLe(payload, 8, 8));
  op.sha256 = payload.substr(16, kHashSize);
  op.hash = payload.substr(16 + kHashSize, kHashSize);
  auto encoding = TailString(payload, kFixed, "blob-put");
  if (!encoding.ok()) return encoding.error();
  if (!IsEncoding(*encoding)) return Error{"blob-put names an unknown encoding"};
  op.encoding = *encoding;
  return op;
}

std::string EncodeBlobDelete(const BlobDeleteOp& op) {
  std::string out(op.hash);
  PutTailString(&out, op.encoding);
  return out;
}

Result<BlobDeleteOp> DecodeBlobDelete(std::string_view payload) {
  if (payload.size() < kHashSize) return Error{"blob-delete payload is truncated"};
  BlobDeleteOp op;
  op.hash = payload.substr(0, kHashSize);
  auto encoding = TailString(payload, kHashSize, "blob-delete");
  if (!encoding.ok()) return encoding.error();
  if (!IsEncoding(*encoding)) return Error{"blob-delete names an unknown encoding"};
  op.encoding = *encoding;
  return op;
}

std::string EncodeFilePut(const FilePutOp& op) {
  std::string out;
  PutLe(&out, op.size, 8);
  out.append(op.sha256);
  PutTailString(&out, op.path);
  return out;
}

Result<FilePutOp> DecodeFilePut(std::string_view payload) {
  constexpr size_t kFixed = 8 + kHashSize;
  if (payload.size() < kFixed) return Error{"file-put payload is truncated"};
  FilePutOp op;
  op.size = GetLe(payload, 0, 8);
  op.sha256 = payload.substr(8, kHashSize);
  auto path = TailString(payload, kFixed, "file-put");
  if (!path.ok()) return path.error();
  if (!IsEntryFilePath(*path, 3)) return Error{"file-put path is not <collection>/<record>/<name>"};
  op.path = *path;
  return op;
}

std::string EncodeSequence(const SequenceOp& op) {
  std::string out;
  PutLe(&out, static_cast<uint64_t>(op.seq), 8);
  out.append(op.table);
  return out;
}

Result<SequenceOp> DecodeSequence(std::string_view payload) {
  if (payload.size() < 8) return Error{"sequence payload is truncated"};
  SequenceOp op;
  op.seq = static_cast<int64_t>(GetLe(payload, 0, 8));
  op.table = payload.substr(8);
  if (!IsText(op.table, 1024)) return Error{"sequence op has no usable table name"};
  return op;
}

std::string EncodeMigration(const MigrationOp& op) {
  std::string out;
  PutLe(&out, op.version, 4);
  PutLe(&out, 0, 4);
  out.append(op.sql);
  return out;
}

Result<MigrationOp> DecodeMigration(std::string_view payload) {
  if (payload.size() < 8) return Error{"migration payload is truncated"};
  if (GetLe(payload, 4, 4) != 0) return Error{"migration reserved field is not 0"};
  MigrationOp op;
  op.version = static_cast<uint32_t>(GetLe(payload, 0, 4));
  op.sql = payload.substr(8);
  if (!IsText(op.sql, kMaxEntryLength)) return Error{"migration op has no usable SQL"};
  return op;
}

std::string CheckOpPayload(OpKind kind, std::string_view payload) {
  auto why = [](const auto& r) { return r.ok() ? std::string() : r.error().message; };
  switch (kind) {
    case OpKind::kChangeset:
    case OpKind::kDatabaseImage:
      return "";  // opaque to the codec: SQLite checks them where they are used
    case OpKind::kDdl:
      return IsText(payload, kMaxEntryLength) ? "" : "ddl op has no usable SQL";
    case OpKind::kBlobPut:
      return why(DecodeBlobPut(payload));
    case OpKind::kBlobDelete:
      return why(DecodeBlobDelete(payload));
    case OpKind::kFilePut:
      return why(DecodeFilePut(payload));
    case OpKind::kFileDelete:
      return IsEntryFilePath(payload, 3) ? ""
                                         : "file-delete path is not <collection>/<record>/<name>";
    case OpKind::kFileDeleteTree:
      return IsEntryFilePath(payload, 1) ? "" : "file-delete-tree path is not <collection>";
    case OpKind::kSequence:
      return why(DecodeSequence(payload));
    case OpKind::kMigration:
      return why(DecodeMigration(payload));
  }
  return "unknown op kind";
}

Result<std::string> EncodeEntry(const EntryView& entry) {
  if (!IsDatabaseName(entry.database))
    return Error{"an entry cannot name database \"" + std::string(entry.database) + "\""};
  auto kind = static_cast<uint16_t>(entry.kind);
  if (kind < 1 || kind > kMaxEntryKind)
    return Error{"an entry cannot have kind " + std::to_string(kind)};
  uint64_t length = kEntryHeaderSize + Pad8(entry.database.size());
  for (const EntryOp& op : entry.ops) {
    auto op_kind = static_cast<uint16_t>(op.kind);
    if (op_kind < 1 || op_kind > kMaxOpKind)
      return Error{"an entry cannot hold op kind " + std::to_string(op_kind)};
    length += kEntryOpHeaderSize + Pad8(op.payload.size());
    if (length > kMaxEntryLength) break;
    std::string why = CheckOpPayload(op.kind, op.payload);
    if (!why.empty()) return Error{"an entry cannot hold this op: " + why};
  }
  if (length > kMaxEntryLength)
    return Error{EntryName(entry.index) + " would be over 1 GiB: commit in smaller batches"};
  std::string out;
  out.reserve(length);
  PutLe(&out, kEntryMagic, 4);
  PutLe(&out, kEntryFormat, 2);
  PutLe(&out, kind, 2);
  PutLe(&out, entry.index, 8);
  PutLe(&out, entry.origin_node, 8);
  PutLe(&out, entry.origin_seq, 8);
  PutLe(&out, static_cast<uint64_t>(entry.commit_time_us), 8);
  PutLe(&out, length, 8);
  PutLe(&out, entry.ops.size(), 4);
  PutLe(&out, entry.database.size(), 4);
  PutLe(&out, 0, 8);  // both CRCs, set below
  out.append(entry.database);
  PadTo8(&out);
  for (const EntryOp& op : entry.ops) {
    PutLe(&out, static_cast<uint16_t>(op.kind), 2);
    PutLe(&out, 0, 6);  // flags and reserved
    PutLe(&out, op.payload.size(), 8);
    out.append(op.payload);
    PadTo8(&out);
  }
  SetLe(&out, 56, Crc32c(std::string_view(out).substr(kEntryHeaderSize)), 4);
  SetLe(&out, 60, Crc32c(std::string_view(out).substr(0, 60)), 4);
  return out;
}

void StampEntry(std::string* bytes, uint64_t index, uint64_t origin_seq, int64_t commit_time_us) {
  SetLe(bytes, 8, index, 8);
  SetLe(bytes, 24, origin_seq, 8);
  SetLe(bytes, 32, static_cast<uint64_t>(commit_time_us), 8);
  SetLe(bytes, 60, Crc32c(std::string_view(*bytes).substr(0, 60)), 4);
}

Result<EntryView> DecodeEntry(std::string_view bytes) {
  if (bytes.size() < kEntryHeaderSize)
    return Error{"entry is truncated: " + std::to_string(bytes.size()) +
                 " bytes, shorter than its 64-byte header"};
  if (GetLe(bytes, 0, 4) != kEntryMagic)
    return Error{"not a hearth change-stream entry (bad magic)"};
  // The header's CRC first: a flipped bit in the format or the kind is damage,
  // not a newer hearth.
  if (GetLe(bytes, 60, 4) != Crc32c(bytes.substr(0, 60)))
    return Error{"entry header is damaged (header CRC mismatch)"};
  EntryView e;
  e.index = GetLe(bytes, 8, 8);
  const std::string name = EntryName(e.index);
  auto format = GetLe(bytes, 4, 2);
  if (format != kEntryFormat)
    return Error{name + " was written by a newer hearth (entry format " + std::to_string(format) +
                 "); this hearth reads format " + std::to_string(kEntryFormat) +
                 ": upgrade hearth"};
  auto kind = GetLe(bytes, 6, 2);
  if (kind < 1 || kind > kMaxEntryKind)
    return Error{name + " has kind " + std::to_string(kind) +
                 ", written by a newer hearth; this hearth knows kinds 1-" +
                 std::to_string(kMaxEntryKind) + ": upgrade hearth"};
  e.kind = static_cast<EntryKind>(kind);
  e.origin_node = GetLe(bytes, 16, 8);
  e.origin_seq = GetLe(bytes, 24, 8);
  e.commit_time_us = static_cast<int64_t>(GetLe(bytes, 32, 8));
  e.length = GetLe(bytes, 40, 8);
  if (e.length % 8 != 0 || e.length < kEntryHeaderSize || e.length > kMaxEntryLength)
    return Error{name + " has an impossible length (" + std::to_string(e.length) + ")"};
  if (e.length > bytes.size())
    return Error{name + " is truncated: its header says " + std::to_string(e.length) + " bytes, " +
                 std::to_string(bytes.size()) + " are there"};
  std::string_view body = bytes.substr(kEntryHeaderSize, e.length - kEntryHeaderSize);
  if (GetLe(bytes, 56, 4) != Crc32c(body)) return Error{name + " is damaged (body CRC mismatch)"};

  uint64_t name_length = GetLe(bytes, 52, 4);
  if (Pad8(name_length) > body.size()) return Error{name + "'s database name runs past its end"};
  e.database = body.substr(0, name_length);
  if (!IsDatabaseName(e.database)) return Error{name + " names no valid database"};
  if (!AllZero(body.substr(name_length, Pad8(name_length) - name_length)))
    return Error{name + " has non-zero padding after its database name"};
  body.remove_prefix(Pad8(name_length));

  // Bounded by the bytes present before anything is reserved for it.
  uint64_t op_count = GetLe(bytes, 48, 4);
  if (op_count > body.size() / kEntryOpHeaderSize)
    return Error{name + " claims more ops (" + std::to_string(op_count) + ") than it can hold"};
  e.ops.reserve(op_count);
  for (uint64_t i = 0; i < op_count; ++i) {
    const std::string op_name = name + " op " + std::to_string(i);
    if (body.size() < kEntryOpHeaderSize) return Error{op_name + " runs past the entry's end"};
    auto op_kind = GetLe(body, 0, 2);
    if (op_kind < 1 || op_kind > kMaxOpKind)
      return Error{op_name + " has kind " + std::to_string(op_kind) +
                   ", written by a newer hearth; this hearth knows op kinds 1-" +
                   std::to_string(kMaxOpKind) + ": upgrade hearth"};
    if (GetLe(body, 2, 6) != 0) return Error{op_name + " has non-zero flags or reserved fields"};
    uint64_t payload_length = GetLe(body, 8, 8);
    body.remove_prefix(kEntryOpHeaderSize);
    // Compared before padding, so a length near 2^64 cannot wrap around.
    if (payload_length > body.size() || Pad8(payload_length) > body.size())
      return Error{op_name + " runs past the entry's end"};
    EntryOp op{static_cast<OpKind>(op_kind), body.substr(0, payload_length)};
    if (!AllZero(body.substr(payload_length, Pad8(payload_length) - payload_length)))
      return Error{op_name + " has non-zero padding"};
    std::string why = CheckOpPayload(op.kind, op.payload);
    if (!why.empty()) return Error{op_name + ": " + why};
    e.ops.push_back(op);
    body.remove_prefix(Pad8(payload_length));
  }
  if (!body.empty()) return Error{name + " has bytes after its last op"};
  return e;
}

}  // namespace hearth::store
