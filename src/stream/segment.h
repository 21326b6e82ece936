#pragma once
// The local log's files (DATA/log/wal/<first:016x>.hlog) and reading them:
// the 64-byte segment header, listing a folder's segments in write order, and
// walking their entries one at a time with a buffer that grows only to the
// largest entry met. Both the log (recovery at open, DropThrough) and its
// readers (the uploader, `hearth log dump`, which runs beside a live server)
// use these; nothing here writes.
//
//   Segment header (64 bytes, little-endian)
//      0 u32 magic 'HLOG'        4 u16 format (1)       6 u16 header length (64)
//      8 u64 generation id      16 u64 first index     24 u64 base offset
//     32 i64 created (Unix µs)  40 20 zero bytes        60 u32 CRC32C of [0, 60)
//   then entries back to back, exactly as store/entry.h encodes them.
//
// Offsets are the log's own byte positions, continuous across files and
// generations: an entry at file position p of a segment sits at offset
// base + (p - 64). They only grow, so `durable` and `committed` compare
// across a roll or a new generation.
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "store/entry.h"

namespace hearth::stream {

inline constexpr uint32_t kSegmentMagic = 0x474F4C48;  // "HLOG" read little-endian
inline constexpr uint16_t kSegmentFormat = 1;
inline constexpr size_t kSegmentHeaderSize = 64;

struct SegmentHeader {
  uint64_t generation = 0;
  uint64_t first_index = 0;
  uint64_t base_offset = 0;
  int64_t created_us = 0;
};

std::string EncodeSegmentHeader(const SegmentHeader& h);

// Why a header was refused, so that recovery can tell a file cut short while
// it was being created from a damaged one and from a newer hearth's.
enum class HeaderFault { kNone, kTruncated, kDamaged, kNewer };
Result<SegmentHeader> DecodeSegmentHeader(std::string_view bytes, HeaderFault* fault = nullptr);

// Opens a segment file (`flags`: O_RDONLY or O_RDWR) only if it is a regular
// file, never a FIFO or a link planted under its name; -1 with errno else.
int OpenSegmentFile(const std::string& path, int flags);

// "<first:016x>.hlog".
std::string SegmentName(uint64_t first_index);

struct SegmentFile {
  std::string path;
  uint64_t size = 0;  // bytes in the file, header included
  SegmentHeader header;
};

// The readable segments of `wal_dir` in write order (by base offset). A file
// whose header cannot be read is left out and named in `*unreadable` (when
// given). A missing folder is an empty list.
Result<std::vector<SegmentFile>> ListSegments(const std::string& wal_dir,
                                              std::vector<std::string>* unreadable = nullptr);

// One entry as read from a segment.
struct LogEntry {
  store::EntryView view;   // points into `bytes`
  std::string_view bytes;  // the whole entry, as written
  uint64_t offset = 0;     // where it starts (log offset)
  uint64_t generation = 0;
};

// Reads entries from one open segment file, one at a time.
class SegmentReader {
 public:
  // `fd` stays the caller's; `end` is the file position to stop at.
  SegmentReader(int fd, const SegmentFile& file, uint64_t end);

  // The next entry, or nothing at the end. A refusal carries DecodeEntry's
  // fault and leaves position() at the refused entry's start, so recovery
  // can cut there. `claimed_end` (when the header could vouch for a length)
  // is the file position the refused entry claims to end at, else 0.
  struct Next {
    bool done = false;
    LogEntry entry;
    store::EntryFault fault = store::EntryFault::kNone;
    std::string error;
    uint64_t claimed_end = 0;
  };
  Next Read();
  uint64_t position() const { return pos_; }  // file position of the next entry

 private:
  int fd_;
  SegmentFile file_;
  uint64_t end_;
  uint64_t pos_ = kSegmentHeaderSize;
  std::string buf_;
};

// Whether anything but a torn tail's leftovers follows file position `from`
// (up to `size`) of a segment: with `any_byte`, any non-zero byte; else an
// entry header whose CRC holds, at an 8-byte boundary. Recovery asks before
// cutting: a cut that would take valid entries with it is damage instead.
Result<bool> SomethingFollows(int fd, uint64_t from, uint64_t size, bool any_byte);

// Calls `fn` for every entry with index >= from_index that ends at or before
// log offset `to_offset`, across the segments of `wal_dir` in order, each
// verified by DecodeEntry. Stops early (with OK) when `fn` returns false. A
// torn entry at the very end of the newest file (a writer is mid-append, or
// recovery has not run yet) ends the walk; any other refusal is an error
// naming the file and offset.
Status ForEachEntry(const std::string& wal_dir, uint64_t from_index, uint64_t to_offset,
                    const std::function<bool(const LogEntry&)>& fn);

}  // namespace hearth::stream
