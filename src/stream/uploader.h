#pragma once
// The streaming backup's uploader: one thread that ships what the local log
// (stream/log.h) holds to a backup target (s3/object_store.h) in the layout
// of stream/remote.h, and never touches a writer's path. Every pass:
//
//   1. entries after the cursor, up to what is committed and durable, go up
//      as L0 segments of at most `max_segment_bytes`, one generation each;
//      after each segment the cursor (DATA/log/cursor) moves past it;
//   2. a generation's first pass writes its generation.json; once the
//      uploader has caught up with the log's current generation and that
//      generation has no snapshot yet (or the last is older than
//      `snapshot_every`), every database is copied (online backup API),
//      compressed and put, the manifest last;
//   3. local log files whose entries are all uploaded are deleted;
//   4. once caught up, one bounded step of upkeep (stream/compactor.h):
//      compaction of one closed window, or retention when it is due.
//
// A failure stops the pass and is retried at the next (the S3 client already
// retried within the request): writes never wait for the uploader, the lag
// grows and shows in stats(). What was put stays valid: a segment re-put
// after a crash has the same key and the same bytes, a snapshot without its
// manifest does not exist for restore.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "base/result.h"
#include "s3/object_store.h"
#include "store/apply_bytes.h"
#include "stream/compactor.h"
#include "stream/log.h"
#include "stream/remote.h"

namespace hearth::stream {

struct UploaderOptions {
  std::string data_dir;  // DATA: hearth.db, apps/*.db
  uint64_t node_id = 0;
  std::string hearth_version;
  std::chrono::milliseconds every{500};
  std::chrono::milliseconds snapshot_every{24 * 3600 * 1000};
  uint64_t max_segment_bytes = uint64_t{16} << 20;
  // Tests (HEARTH_TEST_PAUSE_AT): called at "segment" (the bytes its
  // entries name are up, the segment is not), "cursor" (the segment is up,
  // the cursor not moved past it), "snapshot-files" (a snapshot's record
  // files listed and put, before the copies), "snapshot-copies" (the
  // databases copied), "snapshot" (every database copy is up, the
  // manifest is not) and "compaction" (stream/compactor.h); used to stop
  // the process there, or to write meanwhile.
  std::function<void(std::string_view point)> pause_at;
  // Where the bytes an entry names (blob-put, file-put) are read from before
  // they go up as bytes/<sha256> (each content once, before the segment
  // naming it). Null: the data folder's own (hearth.db's blobs, files/).
  std::shared_ptr<store::BytesSource> bytes;
  // Compaction and retention between passes (off: the target only grows).
  bool upkeep = false;
  CompactorOptions compactor;
};

struct UploaderStats {
  std::string target;            // s3://bucket/prefix or file:///path
  std::string generation;        // the generation being uploaded ("" before any)
  uint64_t uploaded_index = 0;   // last entry uploaded
  int64_t uploaded_time_us = 0;  // its commit time
  uint64_t log_index = 0;        // last entry in the local log
  int64_t log_time_us = 0;
  uint64_t segments_total = 0;
  uint64_t snapshots_total = 0;
  uint64_t put_requests_total = 0;
  uint64_t bytes_uploaded_total = 0;
  uint64_t failures_total = 0;
  uint64_t bytes_objects_total = 0;  // bytes/<sha> objects put
  uint64_t bytes_missing_total = 0;  // bytes deleted before they could go up
  int64_t last_success_us = 0;       // of a pass that left nothing behind
  int64_t last_snapshot_us = 0;
  int64_t failing_since_us = 0;  // 0: the last pass worked
  int64_t caught_up_us = 0;      // when a pass last left nothing behind
  std::string last_error;
  CompactorStats upkeep;
  uint64_t upkeep_failures_total = 0;
  uint64_t lag_entries() const {
    return log_index > uploaded_index ? log_index - uploaded_index : 0;
  }
  // off | ok | behind (not caught up for more than 10 s) | failing (no
  // pass has worked for 60 s)
  std::string State(int64_t now_us) const;
};

// What DATA/log/cursor says was uploaded ({0, 0} when there is none): the
// changes service reads it at start, before any writer, so that a log which
// lost uploaded entries starts a new generation instead of reusing their
// indexes (the backup would keep the lost entries and skip the new ones).
struct UploadedPosition {
  uint64_t generation = 0;
  uint64_t index = 0;
};
UploadedPosition ReadUploadedPosition(const std::string& log_dir);

class Uploader {
 public:
  Uploader(LocalLog* log, std::unique_ptr<s3::ObjectStore> target, UploaderOptions options);
  ~Uploader();  // Stop()
  Uploader(const Uploader&) = delete;
  Uploader& operator=(const Uploader&) = delete;

  void Start();
  // Stops the thread after one last pass (what is durable goes up, if the
  // target answers).
  void Stop();
  // One pass, on the caller's thread (tests; the thread calls it too).
  // `last`: the pass Stop makes, which ships entries only (a snapshot there
  // could hold a shutdown for minutes).
  Status RunOnce(bool last = false);
  UploaderStats stats() const;

 private:
  struct Cursor {
    uint64_t generation = 0;  // local log generation id
    std::string name;         // its name in the target
    uint64_t uploaded_index = 0;
    int64_t uploaded_time_us = 0;
    uint64_t snapshot_index = 0;  // of the last snapshot in `name` (0: none yet)
    int64_t snapshot_us = 0;      // when it was taken
    // The id in the target's hearth-backup.json this cursor (and bytes.idx)
    // describes: another target, or the same one wiped, has another id, and
    // what was uploaded to the old one is not there.
    std::string backup_id;
  };
  // Reads (or writes, on a new target) hearth-backup.json and forgets what
  // was uploaded when the target is not the one the cursor describes.
  Status MarkTarget();
  Status ForgetUploads(const std::string& why);
  Status LoadCursor();
  Status SaveCursor();
  Status Put(const std::string& key, std::string_view bytes);
  Status PutFile(const std::string& key, const std::string& path);
  Status EnterGeneration(uint64_t id, int64_t first_time_us, uint64_t first_index);
  Status ShipSegment(const SegmentBuilder& b);
  // Every readable entry after the cursor, as segments (bytes first).
  Status ShipEntries();
  Status ShipBytes(const store::EntryView& e);
  Status PutBytes(const std::string& sha_hex, std::string_view bytes);
  Status RememberBytes(const std::string& sha_hex);
  Status Snapshot();
  // Marks how long the target has held everything (remote.h CaughtUpKey).
  void MarkCaughtUp();
  // The record files into the manifest (their bytes up first).
  Status SnapshotFiles(Manifest* m);
  Status SnapshotFilesIn(const std::string& dir, const std::string& rel_dir, int depth,
                         Manifest* m);
  Status PutRecordFile(const std::string& path, const std::string& rel, Manifest* m);
  // One step of compaction or retention; its failures are logged, and
  // retried a minute later, but are not the uploader's (shipping works).
  void Upkeep();
  // Hashes about to be deleted from bytes/: out of bytes.idx (rewritten).
  Status ForgetBytes(const std::vector<std::string>& shas);
  void Fail(const Status& s);
  void Loop();

  LocalLog* const log_;
  const std::unique_ptr<s3::ObjectStore> target_;
  const UploaderOptions o_;
  std::mutex run_mu_;  // one pass at a time
  Cursor cursor_;
  bool loaded_ = false;
  bool marked_ = false;
  int64_t marked_us_ = 0;
  int64_t snapshot_failed_us_ = 0;
  std::string caught_up_key_;  // the mark last put (deleted when the next is)
  uint64_t caught_up_index_ = 0;
  int64_t caught_up_put_us_ = 0;
  int64_t upkeep_us_ = 0;                 // when upkeep last ran
  std::set<std::string> uploaded_bytes_;  // sha256 hex, mirrored in DATA/log/bytes.idx
  std::shared_ptr<store::BytesSource> bytes_;
  std::unique_ptr<Compactor> compactor_;  // with options.upkeep
  int64_t upkeep_failed_us_ = 0;
  mutable std::mutex mu_;  // stats_, stop_
  UploaderStats stats_;
  std::map<std::string, int64_t> logged_;  // error -> when last logged
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace hearth::stream
