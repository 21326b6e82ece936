#pragma once
// The change stream's entry: one committed transaction of one database
// (hearth.db or apps/<site>.db) as bytes, the unit that the local log, the S3
// backup and the cluster carry. This file is the codec only: it neither reads
// databases nor applies anything. The format (docs/store.md, "Change-stream
// entries") is a contract between hearth versions and nodes, so the decoder
// trusts nothing: every length is bounded by the bytes present, both CRC32Cs
// are checked, padding and reserved fields must be zero, and kinds this
// hearth does not know are refused with a message that says to upgrade.
//
//   Header (88 bytes in format 1, little-endian)
//      0 u32 magic 'HENT'        4 u16 format (1)         6 u16 kind (EntryKind)
//      8 u32 header_length (88)  12 u32 flags (0: none defined yet)
//     16 u64 index               24 u64 term (Raft; 0 on a single node)
//     32 u64 origin_node         40 u64 origin_seq
//     48 i64 commit_time_us      56 u64 generation (the stream's; 0 when none)
//     64 u64 length (whole entry, multiple of 8, <= 1 GiB)
//     72 u32 op_count            76 u32 name_length
//     80 u32 body_crc   (CRC32C of [header_length, length))
//     84 u32 header_crc (CRC32C of [0, header_length - 4))
//   Name   name_length bytes, zero-padded to 8
//   Op*    u16 kind, u16 flags (0), u32 reserved (0), u64 payload_length,
//          payload zero-padded to 8
//
// What every format, present and future, keeps (so this hearth can tell a
// newer entry from a damaged one): the magic at 0, the format at 4, the
// header's length at 8, and the header CRC in the header's last 4 bytes,
// covering everything before it.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace hearth::store {

inline constexpr uint32_t kEntryMagic = 0x544E4548;  // "HENT" read little-endian
inline constexpr uint16_t kEntryFormat = 1;
inline constexpr size_t kEntryHeaderSize = 88;       // format 1's
inline constexpr size_t kMaxEntryHeaderSize = 4096;  // any format's, to tell damage from growth
inline constexpr size_t kEntryOpHeaderSize = 16;
inline constexpr uint64_t kMaxEntryLength = uint64_t{1} << 30;

enum class EntryKind : uint16_t {
  kWrites = 1,
  kMigration = 2,
  kCreateDatabase = 3,
  kNoOp = 4,  // reserved for the cluster (a new leader's first entry)
};
inline constexpr uint16_t kMaxEntryKind = 4;

// Op kinds; their payloads are described beside the typed helpers below.
enum class OpKind : uint16_t {
  kChangeset = 1,       // raw sqlite3session_changeset bytes
  kDdl = 2,             // SQL as given to Connection::Ddl (may hold several statements)
  kBlobPut = 3,         // BlobPutOp
  kBlobDelete = 4,      // BlobDeleteOp
  kFilePut = 5,         // FilePutOp
  kFileDelete = 6,      // path "<collectionId>/<recordId>/<name>"
  kFileDeleteTree = 7,  // path prefix "<collectionId>" (a dropped collection)
  kSequence = 8,        // SequenceOp (an sqlite_sequence row)
  kDatabaseImage = 9,   // the SQLite file of a new database
  kMigration = 10,      // MigrationOp
};
inline constexpr uint16_t kMaxOpKind = 10;

// What kind of refusal DecodeEntry made, for callers that act on it: the
// local log truncates a torn tail (kTruncated) but starts a new generation on
// damage; restore names a damaged segment but asks for an upgrade on kNewer.
enum class EntryFault {
  kNone,
  kTruncated,  // the bytes end before the entry does, or the rest is zeros (a torn tail)
  kDamaged,    // a CRC does not match, or no entry starts here (bad magic)
  kNewer,      // a format, kind, op kind or flag this hearth does not know
  kInvalid,    // checksums hold but the contents break the format's rules (a bug or a forgery)
};

struct EntryOp {
  OpKind kind = OpKind::kChangeset;
  std::string_view payload;  // unpadded
};

// A decoded entry. Every view points into the buffer given to DecodeEntry
// (zero-copy), so the buffer must outlive it; EncodeEntry reads one the same
// way.
struct EntryView {
  EntryKind kind = EntryKind::kWrites;
  uint64_t index = 0;
  uint64_t term = 0;
  uint64_t origin_node = 0;
  uint64_t origin_seq = 0;
  int64_t commit_time_us = 0;
  uint64_t generation = 0;
  std::string_view database;  // "hearth.db" or "apps/<file>.db"
  std::vector<EntryOp> ops;
  uint64_t length = 0;  // bytes the entry takes (set by DecodeEntry)
};

// The entry's bytes. Refuses what DecodeEntry would refuse of the result: a
// database name that is not hearth.db or a safe apps/*.db name, an unknown
// kind, ops that do not fit the kind (CheckEntryShape), more than 1 GiB in all.
Result<std::string> EncodeEntry(const EntryView& entry);

// Which ops each kind holds, checked by both EncodeEntry and DecodeEntry so
// Apply can switch on the kind and trust it:
//   writes           at least one op; no database-image, no migration op
//   migration        at least one migration op; no database-image
//   create-database  names apps/*.db; exactly one op, a database-image
//   no-op            names hearth.db (Apply records its index there); no ops
// "" when it fits, else why not.
std::string CheckEntryShape(EntryKind kind, std::string_view database,
                            const std::vector<EntryOp>& ops);

// Reads the entry at the front of `bytes` (bytes past its length are the
// caller's: the next entry of a log, say). Refuses a bad magic, a newer format,
// kind or flag, a length that is not a multiple of 8, under the header, over
// 1 GiB or past the buffer, either CRC, ops running past the end or leaving
// bytes after the last, non-zero padding or reserved fields, a bad database
// name, ops that do not fit the kind, and op payloads that do not parse (see
// below). Every message names the entry's index where it could be read;
// `fault`, when given, says which kind of refusal it was (kNone on success).
Result<EntryView> DecodeEntry(std::string_view bytes, EntryFault* fault = nullptr);

// Rewrites the fields known only when the sequencer gives the entry its
// number (index, origin_seq, commit time) and the header CRC, leaving the body
// (and its CRC) alone: the writer encodes and checksums the body first, and
// only this cheap step happens under the sequencer's lock. `bytes` must hold
// an encoded entry (asserted).
void StampEntry(std::string* bytes, uint64_t index, uint64_t origin_seq, int64_t commit_time_us);
// The same, and the stream's generation (which changes only under the
// sequencer's lock, so it is read there too).
void StampEntry(std::string* bytes, uint64_t index, uint64_t origin_seq, int64_t commit_time_us,
                uint64_t generation);

// Typed payloads. Hashes are raw 32 bytes; encodings are "" (the original
// bytes) or a stored variant's "br", "zstd", "gzip"; paths are relative to
// DATA/files/<site> and every part is a plain name (SafeSegment); a sequence
// names a table by an SQL identifier ([A-Za-z_][A-Za-z0-9_]*); SQL is UTF-8
// with no NUL. The encoders refuse what the decoders would.
//
//   blob-put    u64 size, i64 created_at, u8[32] sha256, u8[32] hash,
//               u32 encoding_length, u32 0, encoding
//   blob-delete u8[32] hash, u32 encoding_length, u32 0, encoding
//   file-put    u64 size, u8[32] sha256, u32 path_length, u32 0, path
//   sequence    i64 seq, table name
//   migration   u32 version, u32 0, SQL
struct BlobPutOp {
  uint64_t size = 0;
  int64_t created_at = 0;
  std::string_view sha256;
  std::string_view hash;
  std::string_view encoding;
};
struct BlobDeleteOp {
  std::string_view hash;
  std::string_view encoding;
};
struct FilePutOp {
  uint64_t size = 0;
  std::string_view sha256;
  std::string_view path;
};
struct SequenceOp {
  int64_t seq = 0;
  std::string_view table;
};
struct MigrationOp {
  uint32_t version = 0;
  std::string_view sql;
};

Result<std::string> EncodeBlobPut(const BlobPutOp& op);
Result<std::string> EncodeBlobDelete(const BlobDeleteOp& op);
Result<std::string> EncodeFilePut(const FilePutOp& op);
Result<std::string> EncodeSequence(const SequenceOp& op);
Result<std::string> EncodeMigration(const MigrationOp& op);

Result<BlobPutOp> DecodeBlobPut(std::string_view payload);
Result<BlobDeleteOp> DecodeBlobDelete(std::string_view payload);
Result<FilePutOp> DecodeFilePut(std::string_view payload);
Result<SequenceOp> DecodeSequence(std::string_view payload);
Result<MigrationOp> DecodeMigration(std::string_view payload);

// Whether `name` can name an entry's database: "hearth.db" or a plain
// "apps/<file>.db".
bool IsEntryDatabaseName(std::string_view name);

// Whether `path` is a file op's path: `parts` plain names joined by '/'.
bool IsEntryFilePath(std::string_view path, int parts);

// Checks an op's payload against its kind's layout (the decoder calls it for
// every op); "" when it is well-formed, else why not.
std::string CheckOpPayload(OpKind kind, std::string_view payload);

}  // namespace hearth::store
