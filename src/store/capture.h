#pragma once
// Capture: what a Store's writer needs to turn each committed batch into a
// change-stream entry (store/entry.h).
//
//  * `EntrySink` is where entries go: the local log (the backup) or the
//    cluster's log. The writer appends an entry before its COMMIT and cuts it
//    off again if the COMMIT fails, so a sink never holds an entry whose
//    transaction did not commit (once the append of the next one began).
//  * `StreamContext` ties the sink to the one Sequencer every database of the
//    data folder shares, and to this node's identity.
//  * `Capture` records one batch's row changes with SQLite's session
//    extension and hands them back as a changeset.
//
// A Store without a StreamContext captures nothing and writes exactly as it
// did before the change stream existed.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "store/entry.h"
#include "store/sequencer.h"

struct sqlite3;
struct sqlite3_session;

namespace hearth::store {

class EntrySink {
 public:
  virtual ~EntrySink() = default;
  // Appends one encoded entry; returns the offset it starts at (for
  // TruncateTo). Called under the sequencer's ticket, so appends are in index
  // order. An error means this entry cannot be kept: the writer commits its
  // batch anyway (a backup never fails a write) and calls Break.
  virtual Result<uint64_t> Append(std::string_view entry) = 0;
  // The COMMIT after an Append failed and nothing was committed: drop
  // everything from `offset` on (only ever the last entry).
  virtual void TruncateTo(uint64_t offset) = 0;
  // The transaction of the entry that ends at `end` committed (still under
  // the ticket): a reader may ship it once it is also durable.
  virtual void Committed(uint64_t end) { (void)end; }
  // When a committed batch's writes may be acknowledged: once its entry
  // (ending at `end`; with no entry, the last one before it) is kept as
  // this sink promises. The writer goes on committing later batches
  // meanwhile and acknowledges in commit order (Store::Acknowledge).
  //  * The local log (the default): at once. Its entry was written before
  //    COMMIT, so it survives kill -9 as the database's own WAL does; the
  //    syncer fdatasyncs it a moment later, and only then is it shipped.
  //    Waiting for that fsync would not keep a write through a power loss
  //    either: the databases run with synchronous=NORMAL, and at start the
  //    log yields to them (an entry its database lacks is cut, or a new
  //    generation starts: LocalLog::DropUncommittedTail).
  //  * The cluster's log: once a quorum holds it.
  // A batch still not acknowledgeable after Store::Options::ack_stall is
  // acknowledged as written (and a warning logged): right for the local
  // log, whose entry is written; the cluster's sink will need to answer
  // for itself there (a write no quorum holds is not kept).
  virtual bool Acknowledgeable(uint64_t end) const {
    (void)end;
    return true;
  }
  // Blocks until Acknowledgeable(end) (true) or `timeout` passed (false).
  virtual bool AwaitAcknowledgeable(uint64_t end, std::chrono::milliseconds timeout) {
    (void)end;
    (void)timeout;
    return true;
  }
  // `wake` is called (on the sink's thread, holding none of its locks)
  // whenever more entries became acknowledgeable, until
  // UnwatchAcknowledgeable(token) returns. 0: never called.
  virtual uint64_t WatchAcknowledgeable(std::function<void()> wake) {
    (void)wake;
    return 0;
  }
  virtual void UnwatchAcknowledgeable(uint64_t token) { (void)token; }
  // A transaction committed that the stream does not hold (its entry could
  // not be made or kept, or its COMMIT's outcome is unknown). Called after
  // that COMMIT, on the writer's thread. The stream is no longer whole: the
  // sink starts over (a new generation, from a snapshot taken after now).
  virtual void Break(const std::string& why) = 0;
  // The stream's current generation, stamped into each entry under the
  // ticket (0: none).
  virtual uint64_t Generation() const { return 0; }
};

struct StreamContext {
  Sequencer* sequencer = nullptr;
  EntrySink* sink = nullptr;
  uint64_t node_id = 0;  // origin of the entries this node makes
};

class Connection;
class Observers;
// Whether a table of `c`'s main database can be carried by changesets: ""
// when it can, else why not. A session skips a table without a primary key,
// and rows whose primary key is NULL, silently; a trigger's writes would be
// in the changeset and done again by the trigger on apply; a virtual table
// (FTS) is not recorded at all. So: an explicit primary key whose columns
// are NOT NULL (or the INTEGER rowid alias, or WITHOUT ROWID), no triggers,
// not virtual. `Connection::Ddl` checks every table it creates with it.
std::string CheckCapturable(Connection& c, const std::string& table);

struct CapturedOp {
  OpKind kind;
  std::string payload;
};

// What the writer records for one batch, in order: changesets of the row
// changes, and the ops SQL cannot show (DDL now; blob and file ops later).
// Attach before BEGIN; Finish before COMMIT.
//
// A session cannot span a schema change (3.40 reports SQLITE_SCHEMA for a
// recorded table whose columns changed), so `Connection::Ddl` pauses the
// session (its changes become an op), runs the DDL with no session
// attached, records it, and resumes with a new session: the ops then replay
// as changeset, ddl, changeset.
//
// A capture that fails (SQLite refuses a changeset) stops recording and
// says why at Finish: the batch still commits, without an entry.
class BatchCapture {
 public:
  // `skip`: tables of this database a changeset never carries (besides
  // _hearth_stream, never carried anywhere). `only` (effects-only: no
  // stream): record just the tables an observer wants now.
  static std::unique_ptr<BatchCapture> Start(sqlite3* db, const std::vector<std::string>* skip,
                                             const Observers* only = nullptr);
  ~BatchCapture();
  BatchCapture(const BatchCapture&) = delete;
  BatchCapture& operator=(const BatchCapture&) = delete;

  // Where a write's ops begin (taken at its SAVEPOINT).
  size_t Mark() const { return ops_.size(); }
  // The write that began at `mark` was rolled back: its ops go. If it had
  // paused the session (it ran DDL, so it was alone in its batch), the
  // session is started over from the rolled-back state.
  void RollbackTo(size_t mark);

  // Pause: the session's changes become an op (none when nothing changed:
  // rows changed and changed back, or savepoints rolled back, compare equal
  // and drop out) and recording stops. Resume: a new session.
  void Pause();
  void Resume();
  void Add(OpKind kind, std::string payload) {
    if (failed_.empty()) ops_.push_back({kind, std::move(payload)});
  }

  // Every op of the batch, or why the batch cannot be an entry.
  Result<std::vector<CapturedOp>> Finish();

 private:
  BatchCapture(sqlite3* db, const std::vector<std::string>* skip, const Observers* only)
      : db_(db), skip_(skip), only_(only) {}
  void Open();
  void TakeChangeset();  // the session's changes as the next op (if any)
  void Fail(const std::string& why);
  static int Filter(void* self, const char* table);
  sqlite3* db_;
  const std::vector<std::string>* skip_;
  const Observers* only_;
  sqlite3_session* session_ = nullptr;
  std::vector<CapturedOp> ops_;
  size_t paused_at_ = 0;  // ops_.size() at the last Pause
  bool paused_ = false;   // a Pause happened this batch
  std::string failed_;
};

// The bookkeeping table every database gets on open: the last index it holds
// and that entry's commit time, updated in the same transaction as the
// writes the entry carries.
inline constexpr const char* kStreamTableSql =
    "CREATE TABLE IF NOT EXISTS _hearth_stream ("
    "one INTEGER PRIMARY KEY CHECK (one = 1), "
    "last_index INTEGER NOT NULL, last_time INTEGER NOT NULL); "
    "INSERT OR IGNORE INTO _hearth_stream (one, last_index, last_time) VALUES (1, 0, 0)";

}  // namespace hearth::store
