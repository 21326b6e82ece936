#include "store/entry.h"

#include <algorithm>
#include <cassert>
#include <cstring>

#include "base/crc32c.h"
#include "base/strings.h"
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

}  // namespace

bool IsEntryDatabaseName(std::string_view name) {
  return name == "hearth.db" || (name.substr(0, 5) == "apps/" && SafeExtraName(std::string(name)));
}

namespace {

bool IsDatabaseName(std::string_view name) {
  return IsEntryDatabaseName(name);
}

bool IsEncoding(std::string_view e) {
  return e.empty() || e == "br" || e == "zstd" || e == "gzip";
}

// SQL to run: UTF-8 (SQLite's encoding), never containing NUL (SQLite's C
// API would cut it there).
bool IsSql(std::string_view s) {
  return !s.empty() && s.find('\0') == std::string_view::npos && IsValidUtf8(s);
}

// An sqlite_sequence row names a table: a plain SQL identifier, the only kind
// hearth's AUTOINCREMENT tables have.
bool IsTableName(std::string_view s) {
  if (s.empty() || s.size() > 128) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

Status CheckHash(std::string_view h, const char* what) {
  if (h.size() != kHashSize) return Error{std::string(what) + " needs a 32-byte hash"};
  return OkStatus();
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

const char* KindName(EntryKind kind) {
  switch (kind) {
    case EntryKind::kWrites:
      return "writes";
    case EntryKind::kMigration:
      return "migration";
    case EntryKind::kCreateDatabase:
      return "create-database";
    case EntryKind::kNoOp:
      return "no-op";
  }
  return "?";
}

// Where the format names what reads it: docs/store.md keeps the table of
// which hearth release first reads each entry format.
constexpr const char* kUpgrade =
    ": upgrade hearth (docs/store.md lists which release reads which entry format)";

// A refusal with its fault, for DecodeEntry's callers.
struct Refuse {
  EntryFault* fault;
  Error operator()(EntryFault f, std::string message) const {
    if (fault) *fault = f;
    return Error{std::move(message)};
  }
};

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

Result<std::string> EncodeBlobPut(const BlobPutOp& op) {
  if (auto s = CheckHash(op.sha256, "blob-put"); !s.ok()) return s.error();
  if (auto s = CheckHash(op.hash, "blob-put"); !s.ok()) return s.error();
  if (!IsEncoding(op.encoding)) return Error{"blob-put names an unknown encoding"};
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

Result<std::string> EncodeBlobDelete(const BlobDeleteOp& op) {
  if (auto s = CheckHash(op.hash, "blob-delete"); !s.ok()) return s.error();
  if (!IsEncoding(op.encoding)) return Error{"blob-delete names an unknown encoding"};
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

Result<std::string> EncodeFilePut(const FilePutOp& op) {
  if (auto s = CheckHash(op.sha256, "file-put"); !s.ok()) return s.error();
  if (!IsEntryFilePath(op.path, 3))
    return Error{"file-put path is not <collection>/<record>/<name>"};
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

Result<std::string> EncodeSequence(const SequenceOp& op) {
  if (!IsTableName(op.table)) return Error{"sequence op has no usable table name"};
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
  if (!IsTableName(op.table)) return Error{"sequence op has no usable table name"};
  return op;
}

Result<std::string> EncodeMigration(const MigrationOp& op) {
  if (!IsSql(op.sql)) return Error{"migration op has no usable SQL"};
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
  if (!IsSql(op.sql)) return Error{"migration op has no usable SQL"};
  return op;
}

std::string CheckOpPayload(OpKind kind, std::string_view payload) {
  auto why = [](const auto& r) { return r.ok() ? std::string() : r.error().message; };
  switch (kind) {
    case OpKind::kChangeset:
    case OpKind::kDatabaseImage:
      return "";  // opaque to the codec: SQLite checks them where they are used
    case OpKind::kDdl:
      return IsSql(payload) ? "" : "ddl op has no usable SQL";
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

std::string CheckEntryShape(EntryKind kind, std::string_view database,
                            const std::vector<EntryOp>& ops) {
  size_t images = 0, migrations = 0;
  for (const EntryOp& op : ops) {
    images += op.kind == OpKind::kDatabaseImage;
    migrations += op.kind == OpKind::kMigration;
  }
  const std::string name = std::string("a ") + KindName(kind) + " entry";
  switch (kind) {
    case EntryKind::kWrites:
      if (ops.empty()) return name + " holds no ops";
      if (images || migrations) return name + " holds a database image or a migration";
      return "";
    case EntryKind::kMigration:
      if (!migrations) return name + " holds no migration op";
      if (images) return name + " holds a database image";
      return "";
    case EntryKind::kCreateDatabase:
      if (database.substr(0, 5) != "apps/") return name + " must name an apps/ database";
      if (ops.size() != 1 || images != 1) return name + " must hold exactly one database image";
      return "";
    case EntryKind::kNoOp:
      if (database != "hearth.db") return name + " must name hearth.db";
      if (!ops.empty()) return name + " holds ops";
      return "";
  }
  return name + " has an unknown kind";
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
    // Sizes only: a payload over the limit is never read.
    length += kEntryOpHeaderSize + Pad8(std::min<uint64_t>(op.payload.size(), kMaxEntryLength));
    if (length > kMaxEntryLength) break;
  }
  if (length > kMaxEntryLength)
    return Error{"a transaction on " + std::string(entry.database) +
                 " makes a change-stream entry of over " + std::to_string(length >> 20) +
                 " MiB (the limit is 1 GiB)"};
  for (const EntryOp& op : entry.ops) {
    std::string why = CheckOpPayload(op.kind, op.payload);
    if (!why.empty()) return Error{"an entry cannot hold this op: " + why};
  }
  std::string shape = CheckEntryShape(entry.kind, entry.database, entry.ops);
  if (!shape.empty()) return Error{"an entry cannot be encoded: " + shape};
  std::string out;
  out.reserve(length);
  PutLe(&out, kEntryMagic, 4);
  PutLe(&out, kEntryFormat, 2);
  PutLe(&out, kind, 2);
  PutLe(&out, kEntryHeaderSize, 4);
  PutLe(&out, 0, 4);  // header flags: none defined
  PutLe(&out, entry.index, 8);
  PutLe(&out, entry.term, 8);
  PutLe(&out, entry.origin_node, 8);
  PutLe(&out, entry.origin_seq, 8);
  PutLe(&out, static_cast<uint64_t>(entry.commit_time_us), 8);
  PutLe(&out, entry.generation, 8);
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
  SetLe(&out, 80, Crc32c(std::string_view(out).substr(kEntryHeaderSize)), 4);
  SetLe(&out, 84, Crc32c(std::string_view(out).substr(0, 84)), 4);
  return out;
}

void StampEntry(std::string* bytes, uint64_t index, uint64_t origin_seq, int64_t commit_time_us) {
  assert(bytes->size() >= kEntryHeaderSize && GetLe(*bytes, 8, 4) == kEntryHeaderSize);
  SetLe(bytes, 16, index, 8);
  SetLe(bytes, 40, origin_seq, 8);
  SetLe(bytes, 48, static_cast<uint64_t>(commit_time_us), 8);
  SetLe(bytes, 84, Crc32c(std::string_view(*bytes).substr(0, 84)), 4);
}

void StampEntry(std::string* bytes, uint64_t index, uint64_t origin_seq, int64_t commit_time_us,
                uint64_t generation) {
  assert(bytes->size() >= kEntryHeaderSize && GetLe(*bytes, 8, 4) == kEntryHeaderSize);
  SetLe(bytes, 56, generation, 8);
  StampEntry(bytes, index, origin_seq, commit_time_us);
}

Result<EntryView> DecodeEntry(std::string_view bytes, EntryFault* fault) {
  if (fault) *fault = EntryFault::kNone;
  Refuse refuse{fault};
  // A power loss often leaves the end of a file zero-filled: that is a torn
  // tail, like a short one, not damage.
  if (AllZero(bytes.substr(0, std::min<size_t>(bytes.size(), kEntryHeaderSize))))
    return refuse(EntryFault::kTruncated,
                  bytes.size() < kEntryHeaderSize
                      ? "entry is truncated: " + std::to_string(bytes.size()) + " bytes"
                      : std::string("entry is truncated: zeros where a header should be"));
  auto short_of_header = [&] {
    return refuse(EntryFault::kTruncated, "entry is truncated: " + std::to_string(bytes.size()) +
                                              " bytes, shorter than its header");
  };
  if (bytes.size() < 4) return short_of_header();
  if (GetLe(bytes, 0, 4) != kEntryMagic)
    return refuse(EntryFault::kDamaged, "no change-stream entry starts here (bad magic)");
  if (bytes.size() < 12) return short_of_header();
  // What every format keeps (see entry.h): the header's length at 8 and its
  // CRC in its last 4 bytes. So a flipped bit in the format or the kind reads
  // as damage, and a newer format as newer, not damaged.
  auto format = GetLe(bytes, 4, 2);
  uint64_t header_length = GetLe(bytes, 8, 4);
  // Read before any CRC can vouch for it, so trusted only as far as needed: a
  // format this hearth knows has a known header length (anything else is a
  // flipped bit, and must not read as a torn tail, which the log would cut);
  // a newer format's is bounded.
  if (format == 0 || format > kEntryFormat
          ? header_length < kEntryHeaderSize || header_length % 8 != 0 ||
                header_length > kMaxEntryHeaderSize
          : header_length != kEntryHeaderSize)
    return refuse(EntryFault::kDamaged, "entry header is damaged (header length " +
                                            std::to_string(header_length) + " for format " +
                                            std::to_string(format) + ")");
  if (bytes.size() < header_length)
    return refuse(EntryFault::kTruncated, "entry is truncated: " + std::to_string(bytes.size()) +
                                              " bytes, shorter than its " +
                                              std::to_string(header_length) + "-byte header");
  if (GetLe(bytes, header_length - 4, 4) != Crc32c(bytes.substr(0, header_length - 4)))
    return refuse(EntryFault::kDamaged, "entry header is damaged (header CRC mismatch)");
  EntryView e;
  e.index = GetLe(bytes, 16, 8);
  const std::string name = EntryName(e.index);
  if (format == 0)
    return refuse(EntryFault::kInvalid, name + " has entry format " + std::to_string(format) +
                                            ", which no hearth writes (damaged or forged)");
  if (format > kEntryFormat)
    return refuse(EntryFault::kNewer, name + " was written by a newer hearth (entry format " +
                                          std::to_string(format) + "; this hearth reads format " +
                                          std::to_string(kEntryFormat) + ")" + kUpgrade);
  auto kind = GetLe(bytes, 6, 2);
  if (kind == 0) return refuse(EntryFault::kInvalid, name + " has kind 0, which no hearth writes");
  if (kind > kMaxEntryKind)
    return refuse(EntryFault::kNewer, name + " has kind " + std::to_string(kind) +
                                          ", written by a newer hearth (this hearth knows kinds "
                                          "1-" +
                                          std::to_string(kMaxEntryKind) + ")" + kUpgrade);
  if (GetLe(bytes, 12, 4) != 0)
    return refuse(EntryFault::kNewer,
                  name + " uses header flags this hearth does not know" + kUpgrade);
  e.kind = static_cast<EntryKind>(kind);
  e.term = GetLe(bytes, 24, 8);
  e.origin_node = GetLe(bytes, 32, 8);
  e.origin_seq = GetLe(bytes, 40, 8);
  e.commit_time_us = static_cast<int64_t>(GetLe(bytes, 48, 8));
  e.generation = GetLe(bytes, 56, 8);
  e.length = GetLe(bytes, 64, 8);
  if (e.length % 8 != 0 || e.length < kEntryHeaderSize || e.length > kMaxEntryLength)
    return refuse(EntryFault::kInvalid,
                  name + " has an impossible length (" + std::to_string(e.length) + ")");
  if (e.length > bytes.size())
    return refuse(EntryFault::kTruncated, name + " is truncated: its header says " +
                                              std::to_string(e.length) + " bytes, " +
                                              std::to_string(bytes.size()) + " are there");
  std::string_view body = bytes.substr(kEntryHeaderSize, e.length - kEntryHeaderSize);
  if (GetLe(bytes, 80, 4) != Crc32c(body))
    return refuse(EntryFault::kDamaged, name + " is damaged (body CRC mismatch)");

  uint64_t name_length = GetLe(bytes, 76, 4);
  if (Pad8(name_length) > body.size())
    return refuse(EntryFault::kInvalid, name + "'s database name runs past its end");
  e.database = body.substr(0, name_length);
  if (!IsDatabaseName(e.database))
    return refuse(EntryFault::kInvalid, name + " names no valid database");
  if (!AllZero(body.substr(name_length, Pad8(name_length) - name_length)))
    return refuse(EntryFault::kInvalid, name + " has non-zero padding after its database name");
  body.remove_prefix(Pad8(name_length));

  // Bounded by the bytes present before anything is reserved for it.
  uint64_t op_count = GetLe(bytes, 72, 4);
  if (op_count > body.size() / kEntryOpHeaderSize)
    return refuse(EntryFault::kInvalid,
                  name + " claims more ops (" + std::to_string(op_count) + ") than it can hold");
  e.ops.reserve(op_count);
  auto op_name = [&](uint64_t i) { return name + " op " + std::to_string(i); };
  for (uint64_t i = 0; i < op_count; ++i) {
    if (body.size() < kEntryOpHeaderSize)
      return refuse(EntryFault::kInvalid, op_name(i) + " runs past the entry's end");
    auto op_kind = GetLe(body, 0, 2);
    if (op_kind == 0)
      return refuse(EntryFault::kInvalid, op_name(i) + " has kind 0, which no hearth writes");
    if (op_kind > kMaxOpKind)
      return refuse(EntryFault::kNewer, op_name(i) + " has kind " + std::to_string(op_kind) +
                                            ", written by a newer hearth (this hearth knows op "
                                            "kinds 1-" +
                                            std::to_string(kMaxOpKind) + ")" + kUpgrade);
    if (GetLe(body, 2, 2) != 0)
      return refuse(EntryFault::kNewer,
                    op_name(i) + " uses op flags this hearth does not know" + kUpgrade);
    if (GetLe(body, 4, 4) != 0)
      return refuse(EntryFault::kInvalid, op_name(i) + " has a non-zero reserved field");
    uint64_t payload_length = GetLe(body, 8, 8);
    body.remove_prefix(kEntryOpHeaderSize);
    // Compared before padding, so a length near 2^64 cannot wrap around.
    if (payload_length > body.size() || Pad8(payload_length) > body.size())
      return refuse(EntryFault::kInvalid, op_name(i) + " runs past the entry's end");
    EntryOp op{static_cast<OpKind>(op_kind), body.substr(0, payload_length)};
    if (!AllZero(body.substr(payload_length, Pad8(payload_length) - payload_length)))
      return refuse(EntryFault::kInvalid, op_name(i) + " has non-zero padding");
    std::string why = CheckOpPayload(op.kind, op.payload);
    if (!why.empty()) return refuse(EntryFault::kInvalid, op_name(i) + ": " + why);
    e.ops.push_back(op);
    body.remove_prefix(Pad8(payload_length));
  }
  if (!body.empty()) return refuse(EntryFault::kInvalid, name + " has bytes after its last op");
  std::string shape = CheckEntryShape(e.kind, e.database, e.ops);
  if (!shape.empty()) return refuse(EntryFault::kInvalid, name + ": " + shape);
  return e;
}

}  // namespace hearth::store
