#pragma once
// Store: one SQLite database with one writer thread and per-worker readers.
//
//  * The writer thread owns the only write connection. Callers hand it a
//    write (a function run inside a transaction) and get the result back.
//    Writes that queue up while a commit is running are committed together in
//    the next transaction (group commit); each runs inside its own SAVEPOINT,
//    so one failing rolls back only itself.
//  * Each worker thread has its own read connection; a read never changes
//    thread and never waits for the writer (WAL).
//  * Migrations run at open, each in its own transaction; a database written
//    by a newer hearth (a higher schema version) is refused.
//  * Checkpoints (copying the WAL back into the database) run on a thread of
//    their own, not in the writer's commit: a commit that made a large WAL
//    (a big upload) is acknowledged without waiting for the copy, and later
//    writes do not queue behind it. Durability is unchanged: a commit is in
//    the WAL before it is acknowledged.
//
//  * With a StreamContext (store/capture.h), each batch that changed
//    something becomes one change-stream entry: its rows are recorded with
//    SQLite's session extension, the entry takes the next index from the
//    shared Sequencer, goes to the sink, and `_hearth_stream` records the
//    index in the same transaction; a COMMIT that fails takes the entry back
//    out of the sink and returns the index. A batch that changed nothing
//    takes no index. Without one (tests, CLI tools), batches commit as
//    before.
//  * Observers (store/observers.h) get each committed batch's row changes,
//    and each applied entry's, on the writer thread before the writes'
//    completions: the effects of committed changes hang off them. Without a
//    stream, a batch is recorded only while an observer wants a table.
//
// Replication (Raft, later) slots in between "the batch is decided" and "the
// batch is applied" in the writer loop: it is the only place writes happen.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/result.h"
#include "store/apply_bytes.h"
#include "store/capture.h"
#include "store/observers.h"
#include "store/sqlite.h"

namespace hearth::store {

struct Migration {
  int version;      // 1, 2, 3, ... in order
  const char* sql;  // may hold several statements
};

struct WriteOptions {
  // In a transaction of its own, not grouped with others: a write that
  // changes the schema (Connection::Ddl) must be.
  bool alone = false;
};

class Store {
 public:
  struct Options {
    std::string path;
    int readers = 1;  // one per worker thread
    std::vector<Migration> migrations;
    std::vector<NamedStatement> statements;  // prepared on every connection
    std::string connection_setup;            // SQL run on every connection first (temp tables)
    size_t max_batch = 512;                  // writes per group commit at most
    // A committed batch the stream's sink has not let be acknowledged
    // (EntrySink::Acknowledgeable) after this long is acknowledged anyway:
    // its writes are committed, only their place in the stream is late.
    std::chrono::milliseconds ack_stall{10000};
    // The change stream: the database's name in entries ("hearth.db" or
    // "apps/<file>.db") and where they go; null: no entries.
    std::string name;
    std::shared_ptr<StreamContext> stream;
    // Tables of this database a changeset never carries (hearth.db: blobs,
    // blob_variants: deploy bytes, which travel as blob ops). The writer
    // refuses writes to them but through Connection's byte helpers.
    std::vector<std::string> uncaptured;
    // Opens the file as it is, of any schema version, running no migration
    // (a restore replaying entries made with that schema).
    bool as_found = false;
    // A database this running server has just made (an app's first use):
    // with a stream, its first entry is a create-database entry carrying
    // the freshly migrated file whole, so a copy makes the same file.
    // Databases found at start-up with no index keep theirs until their
    // first write.
    bool announce = false;
  };

  static Result<std::unique_ptr<Store>> Open(Options options);
  // Finishes every queued write, then stops the writer thread.
  ~Store();
  // Finishes the writes already queued (their `done` runs) and ends the
  // writer thread; later writes fail at once. The owner of something a
  // `done` may hold the last reference to calls it first, so that the last
  // reference is never let go on the writer thread itself.
  void StopWrites();

  using WriteFn = std::function<Status(Connection&)>;
  using DoneFn = std::function<void(const Status&)>;
  using WriteOptions = store::WriteOptions;

  // Queues `fn` for the writer thread. `done` runs on the writer thread once
  // the transaction holding it has committed (OK) or `fn` or the commit failed.
  // After the store began stopping, `done` gets an error at once.
  void SubmitWrite(WriteFn fn, DoneFn done, WriteOptions options = {});
  // Blocking form, for the CLI, start-up and tests (not for worker threads).
  Status Write(WriteFn fn);

  // Applies an entry made by another copy of this database (a restore, a
  // replica; store/entry.h) in a transaction of its own: skipped when the
  // database already holds its index (so applying twice changes nothing);
  // else its ops in order, with foreign keys and triggers off (the cascades
  // are in the changesets already), and its index recorded. A change that
  // does not fit (a row that is not as the entry says, a table that differs)
  // is divergence: nothing is applied and the error names the entry, the
  // database and the table. `done` runs on the writer thread.
  // Blob and file ops need their bytes from `options` (store/apply_bytes.h).
  void SubmitApply(std::shared_ptr<const std::string> entry, DoneFn done,
                   ApplyOptions options = {});
  Status Apply(std::shared_ptr<const std::string> entry,
               ApplyOptions options = {});  // blocking form

  // The read connection for reader `index` (0 <= index < readers). Only one
  // thread may use a given reader.
  Connection& Reader(int index) { return *readers_.at(static_cast<size_t>(index)); }
  int readers() const { return static_cast<int>(readers_.size()); }

  int schema_version() const { return schema_version_; }
  // Transactions committed and writes applied since open (for metrics and tests).
  uint64_t commits() const { return commits_.load(); }
  uint64_t writes() const { return writes_.load(); }
  // The last change-stream index this database holds (0: none yet) and its
  // commit time, as stored in `_hearth_stream`.
  uint64_t last_index() const { return last_index_.load(); }

  // The effects of committed changes (store/observers.h).
  Observers& observers() { return observers_; }

 private:
  struct Job {
    WriteFn fn;
    DoneFn done;
    bool alone = false;
    std::shared_ptr<const std::string> entry;   // an entry to apply (alone)
    std::shared_ptr<const ApplyOptions> apply;  // and how to get its bytes
    Status status = OkStatus();
  };
  Store() = default;
  void WriterLoop();
  void CommitBatch(std::vector<Job>& batch);
  // The stream part of CommitBatch: from the recorded changes to COMMIT.
  Status CommitWithEntry(const std::vector<CapturedOp>& ops, std::string* unrecorded);
  Status ApplyEntry(std::string_view bytes, const ApplyOptions& options);  // store/apply.cpp
  Status ApplyOps(const EntryView& e, const ApplyOptions& options, bool* applied);
  // A new database's create-database entry (store/image.cpp).
  Status Announce();
  // Stamps, appends and marks an entry of this database; the caller COMMITs
  // and then calls Settle with COMMIT's status.
  struct Pending {
    Sequencer::Ticket ticket;
    uint64_t offset = 0;  // where the entry starts in the sink
    uint64_t end = 0;     // and ends
  };
  Result<Pending> AppendEntry(std::string bytes);
  bool Settle(const Pending& p, const Status& commit);
  void CheckpointLoop();

  Options options_;
  Observers observers_;
  std::unique_ptr<Connection> writer_;
  std::vector<std::unique_ptr<Connection>> readers_;
  int schema_version_ = 0;

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> queue_;
  bool stopping_ = false;
  std::thread thread_;
  std::atomic<uint64_t> commits_{0}, writes_{0};
  std::atomic<uint64_t> last_index_{0};
  uint64_t entry_end_ = 0;  // where the committing batch's entry ends (0: none)
  // Pipelined acknowledgements (with a stream): a committed batch's writes
  // are acknowledged once the sink lets them be, while the writer goes on
  // with the next batches. Oldest first; each waits for `end` (the highest
  // entry end of this writer so far, so acknowledgements keep commit order).
  // Writer thread only, except ack_moved_ (under mu_).
  struct Unacked {
    uint64_t end = 0;
    std::chrono::steady_clock::time_point since;
    std::vector<Job> jobs;
  };
  std::deque<Unacked> unacked_;
  uint64_t last_end_ = 0;
  bool ack_moved_ = false;  // the sink's WatchAcknowledgeable callback: wake the writer
  uint64_t ack_watch_ = 0;
  bool stall_logged_ = false;
  // Acknowledges the batches the sink says may be; then, while more than
  // `keep` wait, waits for the oldest (AwaitAcknowledgeable, bounded).
  // A batch waiting Options::ack_stall is acknowledged anyway, with one
  // warning per stall.
  void Acknowledge(size_t keep);
  void Hold(std::vector<Job>& batch);
  // sqlite_sequence as of the last committed batch (writer thread; with a
  // stream): a batch that moves a row records it as a sequence op.
  std::map<std::string, int64_t> sequences_;
  // Statements the writer runs for every batch with a stream, kept
  // (declared after writer_: finalized before it closes).
  bool sequence_checked_ = false;
  std::optional<Statement> sequence_read_;         // none: no sqlite_sequence table
  std::optional<Statement> stream_mark_;           // UPDATE _hearth_stream (internal scope)
  std::map<std::string, int64_t> ReadSequences();  // writer thread

  std::unique_ptr<Connection> checkpointer_;
  std::mutex ckpt_mu_;
  std::condition_variable ckpt_cv_;
  uint64_t ckpt_seen_ = 0;  // commits_ when the last checkpoint began
  // Set by the checkpointer when the WAL has grown large: the writer then
  // copies the last frames itself, between batches, so that its next
  // transaction starts the WAL over.
  std::atomic<bool> wal_reset_wanted_{false};
  bool ckpt_stop_ = false;
  std::thread ckpt_thread_;
};

// Applies `migrations` on `conn` (a write connection). Refuses a database whose
// version is higher than the last migration. Returns the resulting version.
// `before_commit`, when set, runs inside each migration's transaction after
// its SQL (the change stream appends the migration's entry there); `after`
// hears whether that transaction committed.
struct MigrationHooks {
  std::function<Status(const Migration&)> before_commit;
  std::function<void(const Status& commit)> after;
};
Result<int> Migrate(Connection& conn, const std::vector<Migration>& migrations,
                    const std::string& what, const MigrationHooks& hooks = {});

}  // namespace hearth::store
