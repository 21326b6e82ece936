#pragma once
// The backup target's layout: what the uploader writes and restore reads,
// named so that a listing alone says what a backup holds (which generations,
// which snapshots, which entries by index and time) without reading objects.
//
//   hearth-backup.json                                  {"format":1}
//   bytes/<sha[0:2]>/<sha256>                           blobs and record files, once each
//   generations/<gen>/generation.json                   GenerationRecord
//   generations/<gen>/snapshots/<index>_<time>/manifest.json     written last: complete
//   generations/<gen>/snapshots/<index>_<time>/hearth.db.zst
//   generations/<gen>/snapshots/<index>_<time>/apps/<file>.db.zst
//   generations/<gen>/segments/L<level>/<first>-<last>_<t0>_<t1>.hseg.zst
//
// <gen> is "<UTC start, 20261207T100000Z>-<id:016x>" (sorts by time; id is
// the local log's generation id, which every entry carries). Indexes and
// times (Unix µs) in names are 16 lower-case hex digits, so names sort in
// index order. A snapshot's <index> is the highest entry any of its databases
// holds and <time> that entry's commit time: restore to a point picks the
// newest snapshot at or before it by name.
//
// A segment object is zstd (with its frame checksum) of:
//   header (64 bytes, little-endian)
//      0 u32 magic 'HSEG'   4 u16 format (1)   6 u16 header length (64)
//      8 u16 level  10 u16 0  12 u32 entry count
//     16 u64 generation id  24 u64 first index  32 u64 last index
//     40 i64 first time     48 i64 last time    56 u32 0   60 u32 CRC32C of [0, 60)
//   the entries back to back, exactly as store/entry.h encodes them
//   trailer (40 bytes): u32 'HEND', u32 0, SHA-256 of everything before it
// Its entries are contiguous (first..last, no gap, one generation); each
// keeps its own CRCs, so damage is caught whatever was recompressed.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "store/entry.h"

namespace hearth::stream {

inline constexpr int kBackupFormat = 1;
inline constexpr std::string_view kBackupMarkerKey = "hearth-backup.json";
// Decompressed, a segment object is at most this (the uploader makes L0s of
// at most 16 MiB of entries; one entry alone may be bigger, up to 1 GiB, and
// then its segment holds only it).
inline constexpr uint64_t kMaxSegmentBytes = (uint64_t{1} << 30) + 4096;

// "20261207T100000Z-<id:016x>" for a generation started at `started_us`.
std::string GenerationName(uint64_t id, int64_t started_us);
// Its id and start; nothing for a name that is not one.
struct GenerationNameParts {
  uint64_t id = 0;
  int64_t started_us = 0;  // to the second
};
std::optional<GenerationNameParts> ParseGenerationName(std::string_view name);

std::string BytesKey(std::string_view sha256_hex);  // "bytes/ab/ab12…"
std::string GenerationRecordKey(std::string_view gen);
std::string SnapshotFolderKey(std::string_view gen, uint64_t index, int64_t time_us);
std::string SnapshotManifestKey(std::string_view folder);
std::string SnapshotDatabaseKey(std::string_view folder, std::string_view database);
// "generations/<gen>/caught-up/<index>_<time>": the uploader held every
// entry of the generation through `index` at `time_us` (nothing had come
// after it), so a restore to a moment after the last entry, up to then, is
// that entry's state. A listing alone says it.
std::string CaughtUpKey(std::string_view gen, uint64_t index, int64_t time_us);

struct SegmentId {
  int level = 0;  // 0..2
  uint64_t first = 0, last = 0;
  int64_t t0 = 0, t1 = 0;  // commit times of the first and last entry
};
std::string SegmentKey(std::string_view gen, const SegmentId& s);
// The name of a segment key's last part ("<first>-<last>_<t0>_<t1>.hseg.zst").
std::optional<SegmentId> ParseSegmentFileName(int level, std::string_view file);

// What generation.json holds.
struct GenerationRecord {
  std::string name;
  uint64_t id = 0;
  uint64_t node = 0;
  int64_t started_us = 0;
  uint64_t first_index = 0;
  std::string reason;
  std::string hearth;  // the release that started it
};
std::string EncodeGenerationRecord(const GenerationRecord& r);
Result<GenerationRecord> DecodeGenerationRecord(std::string_view json);

// What a snapshot's manifest.json holds.
struct SnapshotDatabase {
  std::string name;         // "hearth.db" or "apps/<file>.db"
  std::string key;          // its object (zstd of the file)
  uint64_t size = 0;        // bytes of the database file
  std::string sha256;       // of the database file (hex)
  uint64_t last_index = 0;  // the entry it holds last
  std::string digest;       // store::Digest of it
};
// A record file as of the snapshot; its bytes are bytes/<sha256>.
struct SnapshotFile {
  std::string path;  // "files/<site>/<collection>/<record>/<name>"
  uint64_t size = 0;
  std::string sha256;  // hex
};
struct Manifest {
  std::string generation;
  // Entries from here on may be missing from the copies (they committed
  // after the snapshot began); every earlier one is in them.
  uint64_t from_index = 0;
  uint64_t index = 0;    // the highest last_index of its databases
  int64_t time_us = 0;   // that entry's commit time
  int64_t taken_us = 0;  // when the snapshot began
  std::string hearth;
  std::vector<SnapshotDatabase> databases;
  std::vector<SnapshotFile> files;
};
std::string EncodeManifest(const Manifest& m);
Result<Manifest> DecodeManifest(std::string_view json);

// A segment object's bytes (compressed) from entries already encoded, in
// index order, contiguous, of one generation. zstd `level` (3 for L0).
struct SegmentInfo {
  int level = 0;
  uint64_t generation = 0;
  uint64_t first = 0, last = 0;
  int64_t t0 = 0, t1 = 0;
  uint32_t count = 0;
};
class SegmentBuilder {
 public:
  SegmentBuilder(int level, uint64_t generation) {
    info_.level = level;
    info_.generation = generation;
  }
  // Refuses an entry that does not follow the last one (index, generation).
  Status Add(const store::EntryView& entry, std::string_view bytes);
  bool empty() const { return info_.count == 0; }
  uint64_t bytes() const { return body_.size(); }
  const SegmentInfo& info() const { return info_; }
  SegmentId name() const { return {info_.level, info_.first, info_.last, info_.t0, info_.t1}; }
  // The object: header, entries, trailer, compressed.
  Result<std::string> Finish(int zstd_level) const;

 private:
  SegmentInfo info_;
  std::string body_;
};

// Opens a segment object: decompresses (bounded), checks the header, the
// trailer's SHA-256 and every entry, and that they match what `expected`
// (from its key) says. Errors name what is wrong, the caller names the key.
struct OpenedSegment {
  SegmentInfo info;
  std::string raw;                        // decompressed
  std::vector<std::string_view> entries;  // into raw
};
Result<OpenedSegment> OpenSegment(std::string_view object,
                                  const std::optional<SegmentId>& expected = std::nullopt);

// zstd with its frame checksum; Decompress refuses more than `limit` bytes.
Result<std::string> Compress(std::string_view data, int level);
Result<std::string> Decompress(std::string_view data, uint64_t limit);
// The same between files, in blocks (a database may be gigabytes): the output
// is written whole to `out` (tmp + rename) and `*sha256` (when given) is the
// hex SHA-256 of the uncompressed side.
Status CompressFile(const std::string& in, const std::string& out, int level,
                    std::string* sha256 = nullptr);
Status DecompressFile(const std::string& in, const std::string& out, uint64_t limit,
                      std::string* sha256 = nullptr);

}  // namespace hearth::stream
