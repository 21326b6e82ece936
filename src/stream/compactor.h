#pragma once
// Upkeep of a streaming backup target (the layout of stream/remote.h), run on
// the uploader's thread between its passes, one bounded step at a time:
//
//   compaction  L0 segments (one per upload pass) whose 5-minute window (by
//               their first entry's time) has closed become one L1 segment;
//               L1s of a closed hour one L2. The new object is built from the
//               old ones as the target holds them (each opened and checked),
//               put, and only then are they deleted: a kill at any point
//               leaves an overlap (restore takes the fewest objects and skips
//               entries it has), never a hole, and the next step finishes it
//               (a segment inside a higher level's is deleted). A window with
//               a hole in its entries is left alone (and counted).
//   retention   every snapshot younger than the retention is kept, and the
//               newest older one (so every moment of the window stays
//               restorable); what none of them needs goes: older snapshots,
//               segments wholly before the oldest kept snapshot's from_index,
//               older generations, snapshot folders left without a manifest
//               for a day, and bytes/ objects no kept manifest or segment
//               names that are older than a day (so a put whose segment is
//               not up yet is never swept). The caller forgets a hash before
//               it is swept (its "already uploaded" list), so an entry naming
//               it again uploads it again.
#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "base/result.h"
#include "s3/object_store.h"
#include "stream/backup_view.h"

namespace hearth::stream {

struct CompactorOptions {
  int64_t l1_window_us = int64_t{5} * 60 * 1000000;  // L0s -> one L1 per window
  int64_t l2_window_us = int64_t{3600} * 1000000;    // L1s -> one L2 per window
  // A window is compacted this long after it ends (an entry is stamped
  // before it reaches the log; one stamped in a window already compacted
  // would only make a second, adjacent segment of it).
  int64_t grace_us = int64_t{10} * 1000000;
  // Entries of one compacted segment at most (a window holding more gets
  // several, split between source segments; one source bigger than this
  // alone is one).
  uint64_t max_segment_bytes = uint64_t{64} << 20;
  int64_t retention_us = int64_t{7} * 24 * 3600 * 1000000;  // 0: keep everything
  int64_t retention_every_us = int64_t{3600} * 1000000;
  // bytes/ objects and manifest-less snapshot folders younger than this stay.
  int64_t sweep_age_us = int64_t{24} * 3600 * 1000000;
  // Deletes per step at most (the first run over a long history continues
  // at the next step).
  size_t max_deletes = 1000;
  // Tests: called at "compaction" (a compacted segment is up, its sources
  // not deleted yet), to stop the process there.
  std::function<void(std::string_view point)> pause_at;
};

struct CompactorStats {
  uint64_t compactions[3] = {0, 0, 0};  // by the level made (1, 2)
  uint64_t holes_skipped = 0;           // windows left alone for a missing entry
  uint64_t deleted_segments = 0;
  uint64_t deleted_snapshots = 0;    // objects of snapshot folders
  uint64_t deleted_generations = 0;  // objects of whole older generations
  uint64_t deleted_bytes = 0;
};

class Compactor {
 public:
  Compactor(s3::ObjectStore* target, CompactorOptions options) : target_(target), o_(options) {}

  // Called with the bytes/ hashes about to be swept, before they are:
  // the caller forgets them durably (its "already uploaded" list), so an
  // entry naming one again uploads it again.
  using ForgetFn = std::function<Status(const std::vector<std::string>&)>;

  // One bounded step: retention when it is due (hourly), else at most one
  // window of generation `gen` (its name in the target; "" for none). True
  // when it did something (the next step may have more).
  Result<bool> Step(const std::string& gen, int64_t now_us, const ForgetFn& forget);

  // The two halves, for tests.
  Result<bool> CompactStep(const std::string& gen, int64_t now_us);
  // Done (false) or more to do at the next step (true).
  // `current`: the generation being uploaded to, never deleted whole
  // (whatever the clocks in the names say).
  Result<bool> RetainStep(int64_t now_us, const ForgetFn& forget, const std::string& current = "");

  const CompactorStats& stats() const { return stats_; }

 private:
  // `damaged`: the error is a source that does not open, not the target.
  Status Compact(const GenerationView& g, int level, const std::vector<const SegmentRef*>& run,
                 bool* damaged);
  Status Delete(const std::string& key, uint64_t* counter);
  // The bytes/ hashes a segment's entries name (read once per key: a key's
  // bytes never change).
  Result<const std::vector<std::string>*> NamedBytes(const SegmentRef& s);

  s3::ObjectStore* const target_;
  const CompactorOptions o_;
  CompactorStats stats_;
  int64_t next_compact_us_ = 0;  // no window closes before this
  int64_t next_retain_us_ = 0;
  std::set<std::string> skipped_;  // "<gen> <level> <window>": left alone for good
  std::map<std::string, std::vector<std::string>> named_;  // segment key -> bytes hashes
};

// An ObjectInfo's last_modified (ISO 8601 UTC, with or without fractions) as
// Unix µs; 0 when it is not one.
int64_t ParseIsoTime(const std::string& text);

}  // namespace hearth::stream
