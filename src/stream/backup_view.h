#pragma once
// What a backup target holds, read from a listing alone (stream/remote.h
// names every object so that it can be), and the choice restore makes from
// it: which generation, which snapshot, which segments in which order — or
// why there is none. Pure: no I/O, so every case is a table in a unit test.
//
// Restore never does a partial job: a hole in the entries it needs is an
// error naming the missing range and the segments around it.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "s3/object_store.h"
#include "stream/remote.h"

namespace hearth::stream {

struct SnapshotRef {
  uint64_t index = 0;     // highest entry its databases hold
  int64_t time_us = 0;    // that entry's commit time
  std::string folder;     // key of its folder
  bool complete = false;  // its manifest is there
};

struct SegmentRef {
  SegmentId name;
  std::string key;
  uint64_t size = 0;
};

// A run of entries the segments hold without a hole.
struct Covered {
  uint64_t first = 0, last = 0;
  int64_t t0 = 0, t1 = 0;
};

struct GenerationView {
  std::string name;
  GenerationNameParts parts;
  bool has_record = false;             // generation.json is there
  std::vector<SnapshotRef> snapshots;  // by index, then time
  std::vector<SegmentRef> segments;    // by first index, then longest first
  std::vector<Covered> covered;        // merged, in order
  // The newest caught-up mark (remote.h CaughtUpKey): every entry through
  // caught_up_index was uploaded at caught_up_us, none after it yet.
  uint64_t caught_up_index = 0;
  int64_t caught_up_us = 0;
  // The span a restore can reach: from its oldest complete snapshot to its
  // last entry (or that snapshot, with no entries after it).
  std::optional<Covered> Restorable() const;
};

struct BackupView {
  bool marked = false;                      // hearth-backup.json is there
  std::vector<GenerationView> generations;  // oldest first
  std::vector<std::string> unknown;         // keys under generations/ that are none of ours
};

// `objects`: the target's listing (every key, relative to its root).
BackupView ReadListing(const std::vector<s3::ObjectInfo>& objects);

// What to restore to.
struct RestoreTarget {
  enum Kind { kLatest, kIndex, kTime } kind = kLatest;
  uint64_t index = 0;
  int64_t time_us = 0;
};

// The generation and snapshot a restore starts from (step one: the caller
// then reads the snapshot's manifest for its from_index).
struct RestoreStart {
  const GenerationView* generation = nullptr;
  SnapshotRef snapshot;
};
Result<RestoreStart> ChooseStart(const BackupView& view, const RestoreTarget& target);

// Step two: the segments that hold entries `from` .. the target, in apply
// order (each starts at or before where the previous ended + 1; an overlap
// is fine: entries already applied are skipped). `last_index` is the last
// entry to apply (for a time target, the apply stops earlier at the first
// entry committed after it). A hole is an error naming it.
struct SegmentPlan {
  std::vector<SegmentRef> segments;
  uint64_t last_index = 0;
};
Result<SegmentPlan> PlanSegments(const GenerationView& generation, uint64_t from,
                                 const RestoreTarget& target);

// "2026-12-07T10:00:03Z" for messages (to the second).
std::string FormatTime(int64_t unix_us);

}  // namespace hearth::stream
