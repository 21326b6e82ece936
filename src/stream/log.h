#pragma once
// The local change-stream log (DATA/log/): every entry the writers make, in
// index order, appended before its COMMIT, so that a backup uploader (and
// later the cluster) can ship what committed. It is the `store::EntrySink`
// the writers hold.
//
//   DATA/log/generation          {id, first_index, started_at, reason} (tmp+fsync+rename)
//   DATA/log/broken              why the stream broke, until a new generation starts
//   DATA/log/wal/<first:016x>.hlog  segments (stream/segment.h), rolled at segment_bytes
//
// The writer's path is short: Append is one write() at the tail and never
// fsyncs. A syncer thread fdatasyncs whenever the tail moved, coalescing
// every writer's appends, and publishes `durable()`. The writer reports
// `MarkCommitted(end)` after its COMMIT; readers ship only up to
// `readable()` = min(committed, durable), so they never ship an entry whose
// COMMIT may still fail nor one a power loss could take back.
//
// A generation is one unbroken run of entries. A new one starts (at the next
// Generation() or append, with a new id and a new segment file) when the
// stream breaks (a commit the log does not hold, or a failed sync), when
// recovery finds damage or a hole, or when a database is ahead of the log
// (the log lost its tail). Old generations' files stay until the uploader is
// done with them. `broken` stays on disk until the new generation's first
// entry is committed and durable.
//
// Thread use: Append/TruncateTo are called by writers under the sequencer's
// ticket (so one at a time, in index order); everything else may be called
// from any thread.
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "base/result.h"
#include "store/capture.h"
#include "stream/segment.h"

namespace hearth::stream {

struct LogOptions {
  uint64_t segment_bytes = uint64_t{64} << 20;  // a new file once the current would pass this
  // The syncer starts a pass at most this often. Writes do not wait for it
  // (EntrySink::Acknowledgeable), so under a steady load one fdatasync
  // covers this long of appends instead of running back to back: each costs
  // the disk a journal commit and the machine CPU. After a quiet spell the
  // next pass starts at once. 0: back to back.
  std::chrono::milliseconds sync_every{10};
  // Tests only: called by the syncer in each pass after it took its target
  // and before it syncs, outside the lock; a non-empty result is taken as a
  // failed sync with that message (so a test can pause the syncer or fail it).
  std::function<std::string()> sync_hook;
  // Tests only: true makes TruncateTo's cut fail (as an I/O error would).
  std::function<bool()> cut_fails;
  // Tests only: this boot's id (default /proc/sys/kernel/random/boot_id).
  std::string boot_id;
};

// What Open found and did, for the server's log and the Sequencer's start.
struct LogRecovery {
  uint64_t cut_bytes = 0;          // torn tail cut off the newest file
  std::string new_generation_why;  // non-empty: the next append starts a new generation
};

// DropUncommittedTail's verdict.
struct TailCheck {
  bool dropped = false;         // the last entry never committed and was cut off
  bool new_generation = false;  // the log and the databases are out of step
  std::string why;
};

class LocalLog : public store::EntrySink {
 public:
  // Opens (creating) the log under `dir` and recovers it: a torn tail of the
  // newest file is cut (logged); damage in the middle of it means the log is
  // not trusted and a new generation starts; an entry or a file of a newer
  // format refuses to open (an upgrade is needed). Starts the syncer.
  static Result<std::unique_ptr<LocalLog>> Open(const std::string& dir, LogOptions options = {});
  ~LocalLog() override;  // stops the syncer after a last sync
  LocalLog(const LocalLog&) = delete;
  LocalLog& operator=(const LocalLog&) = delete;

  // EntrySink. Append returns the offset the entry starts at; the entry ends
  // at that + entry.size() (what MarkCommitted and WaitDurable take).
  Result<uint64_t> Append(std::string_view entry) override;
  void TruncateTo(uint64_t offset) override;
  void Break(const std::string& why) override;
  // The writer's calls under the ticket: the generation the next entry is
  // stamped with (a pending new generation begins here, so the entry and the
  // file it goes to agree: Append starts a pending one only for an entry not
  // stamped with the current id), and that an entry's transaction committed.
  uint64_t Generation() const override;
  void Committed(uint64_t end) override { MarkCommitted(end); }

  // The writer's COMMIT of the entry ending at `offset_end` succeeded.
  void MarkCommitted(uint64_t offset_end);
  uint64_t end() const;  // the tail: where the next entry will start
  uint64_t committed() const { return committed_.load(); }
  uint64_t durable() const { return durable_.load(); }
  uint64_t readable() const { return std::min(committed(), durable()); }
  // Waits until durable() >= offset; false on timeout.
  bool WaitDurable(uint64_t offset, std::chrono::milliseconds timeout);

  // The last entry the log holds (after recovery and appends): its index
  // and commit time, 0 when it holds none.
  uint64_t last_index() const;
  int64_t last_time_us() const;
  const LogRecovery& recovery() const { return recovery_; }

  uint64_t generation() const;              // the current generation's id (0: none started yet)
  uint64_t generation_first_index() const;  // the index its first entry has (0: none)
  // Breaks since open, and the pending one's reason ("" once a new generation began).
  uint64_t breaks() const { return breaks_.load(); }
  bool broken() const;
  std::string broken_why() const;

  // At start, before any writer: `db_last_index` holds every database's
  // stored last index by name ("hearth.db", "apps/x.db"). A last entry whose
  // database does not hold it never committed and is cut off; a database
  // ahead of the log (power loss took the log's tail, or log/ was deleted),
  // or any other mismatch, means a new generation (started at the next append).
  Result<TailCheck> DropUncommittedTail(const std::map<std::string, uint64_t>& db_last_index);

  // Entries with index >= from_index ending at or before `to_offset`, in
  // order, across files (see ForEachEntry). Pass readable() to ship only
  // committed, durable entries.
  Status ForEach(uint64_t from_index, uint64_t to_offset,
                 const std::function<bool(const LogEntry&)>& fn) const;

  // Deletes the segment files whose entries all have index <= `index` (the
  // uploader shipped them); never the file being appended to.
  Result<int> DropThrough(uint64_t index);

  const std::string& dir() const { return dir_; }
  std::string wal_dir() const { return dir_ + "/wal"; }

 private:
  struct Segment {
    int fd = -1;
    std::string path;
    uint64_t base = 0;         // log offset of the first entry
    uint64_t first_index = 0;  // of the first entry
    uint64_t size = 0;         // file bytes, header included
    ~Segment();
    uint64_t end() const { return base + size - kSegmentHeaderSize; }
  };
  struct GenerationInfo {
    uint64_t id = 0;
    uint64_t first_index = 0;
    int64_t started_us = 0;
    std::string reason;
  };
  LocalLog(std::string dir, LogOptions options);
  Status Recover();
  Status ScanNewest();
  Result<std::shared_ptr<Segment>> CreateSegment(uint64_t first_index);
  bool TruncateLocked(uint64_t offset);  // false: the cut failed (the range is skipped)
  void StartGenerationLocked(const std::string& why);
  void SyncLoop();

  const std::string dir_;
  const LogOptions options_;
  LogRecovery recovery_;

  mutable std::mutex mu_;
  std::condition_variable work_cv_;     // the syncer waits for something to sync
  std::condition_variable durable_cv_;  // WaitDurable waits for the syncer
  std::shared_ptr<Segment> current_;    // appended to; null until the first append of a file
  std::vector<std::shared_ptr<Segment>> retired_;  // rolled, still to be synced
  uint64_t tail_ = 0;
  // Appends and cuts are counted, not compared by offset: a cut and an
  // append of the same length leave tail_ where it was, but still need a sync.
  uint64_t changes_ = 0;
  uint64_t synced_changes_ = 0;          // changes_ at the syncer's last pass
  uint64_t truncated_low_ = UINT64_MAX;  // lowest TruncateTo during a sync pass
  bool dir_dirty_ = false;               // a file was created or removed
  GenerationInfo generation_;
  uint64_t generation_base_ = 0;  // log offset of the current generation's first entry
  // A sync failed: durable() stays at or below this until a new generation
  // starts; then the failed generation's unsynced range goes to unsynced_,
  // which readers skip (a power loss may have taken it). An uncommitted
  // entry that could not be cut off is skipped the same way.
  std::optional<uint64_t> ceiling_;
  std::vector<std::pair<uint64_t, uint64_t>> unsynced_;
  bool skipped_to_write_ = false;  // unsynced_ changed: the syncer writes DATA/log/skipped
  // Cuts the skipped ranges at `tail` (offsets from there on are written anew).
  void TrimSkippedLocked(uint64_t tail);
  bool same_boot_ = false;  // Recover: the machine did not restart since the last open
  // `broken` is removed only once the new generation's first entry (ending
  // here) is committed and durable: before that, a restart must start anew.
  std::atomic<uint64_t> clear_broken_at_{0};
  std::mutex broken_file_mu_;  // orders writing and removing `broken`, outside mu_
  std::optional<std::string> pending_generation_;      // why the next append starts one
  std::optional<GenerationInfo> generation_to_write_;  // for the syncer
  std::string broken_why_;
  struct Tip {
    uint64_t offset = 0;  // log offset of the entry's start
    uint64_t index = 0;
    int64_t time_us = 0;
    std::string database;
  };
  std::optional<Tip> last_, before_last_;  // the newest two entries (before_last_ may be unknown)
  // Recovery: each database's two highest indexes in the newest file, so
  // DropUncommittedTail checks every database against the log, not only
  // the last entry's.
  std::map<std::string, std::array<uint64_t, 2>> newest_tops_;
  uint64_t files_first_index_floor_ = 0;  // index before the newest file's first (when known)
  bool stop_ = false;

  std::atomic<uint64_t> committed_{0};
  std::atomic<uint64_t> durable_{0};
  std::atomic<uint64_t> breaks_{0};
  std::thread syncer_;
  std::chrono::steady_clock::time_point last_pass_;  // the syncer's (sync_every)
  bool pacing_ = false;  // under mu_: the syncer waits out sync_every (appends need not wake it)
};

// Reads DATA/log/generation ({} fields zero when missing).
struct GenerationFile {
  uint64_t id = 0;
  uint64_t first_index = 0;
  std::string started_at;
  std::string reason;
};
Result<GenerationFile> ReadGenerationFile(const std::string& dir);

}  // namespace hearth::stream
