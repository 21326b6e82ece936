#include "store/store.h"

#include <algorithm>
#include <chrono>
#include <future>
#include <map>
#include <optional>

#include "base/log.h"
#include "store/entry.h"

namespace hearth::store {
namespace {
constexpr int kWalResetFrames = 4096;  // 16 MiB of 4 KiB pages
}  // namespace

Result<int> Migrate(Connection& conn, const std::vector<Migration>& migrations,
                    const std::string& what, const MigrationHooks& hooks) {
  auto st = conn.Prepare("PRAGMA user_version");
  if (!st.ok()) return st.error();
  Status s = OkStatus();
  int current = st->Step(&s) ? static_cast<int>(st->Int(0)) : 0;
  st->Reset();  // an unfinished statement would lock tables a migration may drop
  if (!s.ok()) return Error{what + ": " + s.error().message};
  int latest = migrations.empty() ? 0 : migrations.back().version;
  if (current > latest)
    return Error{what + " was written by a newer hearth (schema version " +
                 std::to_string(current) + "; this hearth knows up to " + std::to_string(latest) +
                 "): upgrade hearth to use it"};
  for (const auto& m : migrations) {
    if (m.version <= current) continue;
    if (auto b = conn.Exec("BEGIN IMMEDIATE"); !b.ok())
      return Error{what + ": " + b.error().message};
    Status applied = OkStatus();
    {
      auto ddl = conn.DdlScope();
      applied = conn.Exec(m.sql);
      if (applied.ok()) applied = conn.Exec("PRAGMA user_version = " + std::to_string(m.version));
    }
    bool hooked = false;
    if (applied.ok() && hooks.before_commit) {
      applied = hooks.before_commit(m);
      hooked = applied.ok();
    }
    if (applied.ok()) applied = conn.Exec("COMMIT");
    if (hooked && hooks.after) hooks.after(applied);
    if (!applied.ok()) {
      (void)conn.Exec("ROLLBACK");
      return Error{what + ": migration " + std::to_string(m.version) +
                   " failed: " + applied.error().message};
    }
    Log(LogLevel::kInfo, "migrated", {{"db", what}, {"version", m.version}});
    current = m.version;
  }
  return current;
}

Result<std::unique_ptr<Store>> Store::Open(Options options) {
  std::unique_ptr<Store> s(new Store());
  s->options_ = std::move(options);
  auto w = Connection::Open(s->options_.path, Connection::Mode::kReadWrite);
  if (!w.ok()) return w.error();
  s->writer_ = std::move(w).value();
  s->writer_->GuardWrites();
  s->writer_->SetByteTables(s->options_.uncaptured);
  if (s->options_.stream) {
    const StreamContext& st = *s->options_.stream;
    if (!st.sink || !st.sequencer)
      return Error{s->options_.path +
                   ": a store in the change stream needs its sink and sequencer"};
    if (!IsEntryDatabaseName(s->options_.name))
      return Error{s->options_.path + ": \"" + s->options_.name +
                   "\" cannot name a database in the change stream"};
  }
  // The stream's bookkeeping table: read before the migrations (a database
  // the stream holds gets entries for them), made after them (so a database
  // a newer hearth wrote is refused untouched), and only written when
  // missing (an open never takes the write lock for it otherwise).
  bool has_stream_table = false;
  {
    auto q = s->writer_->Prepare(
        "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = '_hearth_stream'");
    if (!q.ok()) return Error{s->options_.path + ": " + q.error().message};
    Status step = OkStatus();
    has_stream_table = q->Step(&step);
    if (!step.ok()) return Error{s->options_.path + ": " + step.error().message};
  }
  if (has_stream_table) {
    auto q = s->writer_->Prepare("SELECT last_index FROM _hearth_stream WHERE one = 1");
    if (!q.ok()) return Error{s->options_.path + ": " + q.error().message};
    Status step = OkStatus();
    if (q->Step(&step)) s->last_index_ = static_cast<uint64_t>(q->Int(0));
    if (!step.ok()) return Error{s->options_.path + ": " + step.error().message};
  }
  // A database the stream already holds (it has an index) gets an entry per
  // migration, so a copy replays it. A new one travels whole instead (its
  // first migrations may make random secrets).
  MigrationHooks hooks;
  std::optional<Pending> pending;
  if (s->options_.stream && s->last_index_ > 0) {
    Store* raw = s.get();
    hooks.before_commit = [raw, &pending](const Migration& m) -> Status {
      MigrationOp op{static_cast<uint32_t>(m.version), m.sql};
      auto payload = EncodeMigration(op);
      if (!payload.ok()) {
        raw->options_.stream->sink->Break(raw->options_.name + ": " + payload.error().message);
        return OkStatus();
      }
      EntryView view;
      view.kind = EntryKind::kMigration;
      view.origin_node = raw->options_.stream->node_id;
      view.database = raw->options_.name;
      view.ops.push_back({OpKind::kMigration, *payload});
      // As for writes, the stream never fails the migration: it breaks.
      auto bytes = EncodeEntry(view);
      auto appended =
          bytes.ok() ? raw->AppendEntry(std::move(bytes).value()) : Result<Pending>(bytes.error());
      if (!appended.ok()) {
        raw->options_.stream->sink->Break(raw->options_.name + ": " + appended.error().message);
        return OkStatus();
      }
      pending = *appended;
      return OkStatus();
    };
    hooks.after = [raw, &pending](const Status& commit) {
      if (pending && !raw->Settle(*pending, commit))
        raw->options_.stream->sink->Break(raw->options_.name +
                                          ": the outcome of a migration's COMMIT is unknown");
      pending.reset();
    };
  }
  // A restore's stores (`as_found`) take the schema the entries were made
  // with: no migration, whatever version the file says.
  auto version = s->options_.as_found
                     ? Result<int>(0)
                     : Migrate(*s->writer_, s->options_.migrations, s->options_.path, hooks);
  if (pending) s->Settle(*pending, Error{"the migration did not finish"});  // thrown past `after`
  if (!version.ok()) return version.error();
  s->sequences_ = s->ReadSequences();
  if (!has_stream_table) {
    auto ddl = s->writer_->DdlScope();
    auto internal = s->writer_->InternalScope();
    if (auto st = s->writer_->Exec(kStreamTableSql); !st.ok())
      return Error{s->options_.path + ": " + st.error().message};
  }
  // A database this server just made: its first entry carries it whole.
  if (s->options_.announce && s->options_.stream && s->last_index_ == 0)
    if (Status st = s->Announce(); !st.ok())
      s->options_.stream->sink->Break(s->options_.name + ": " + st.error().message);
  s->schema_version_ = *version;
  if (!s->options_.connection_setup.empty())
    if (auto st = s->writer_->Exec(s->options_.connection_setup); !st.ok()) return st.error();
  if (auto st = s->writer_->PrepareRegistry(s->options_.statements); !st.ok()) return st.error();
  for (int i = 0; i < s->options_.readers; ++i) {
    auto r = Connection::Open(s->options_.path, Connection::Mode::kReadOnly);
    if (!r.ok()) return r.error();
    if (!s->options_.connection_setup.empty())
      if (auto st = (*r)->Exec(s->options_.connection_setup); !st.ok()) return st.error();
    if (auto st = (*r)->PrepareRegistry(s->options_.statements); !st.ok()) return st.error();
    s->readers_.push_back(std::move(r).value());
  }
  // The writer never checkpoints; the checkpointer's own connection does.
  if (auto st = s->writer_->Exec("PRAGMA wal_autocheckpoint=0; PRAGMA journal_size_limit=" +
                                 std::to_string(kWalResetFrames * 4096));
      !st.ok())
    return st.error();
  auto ck = Connection::Open(s->options_.path, Connection::Mode::kReadWrite);
  if (!ck.ok()) return ck.error();
  s->checkpointer_ = std::move(ck).value();
  if (auto st = s->checkpointer_->Exec("PRAGMA wal_autocheckpoint=0"); !st.ok()) return st.error();
  if (s->options_.stream && s->options_.stream->sink) {
    s->ack_watch_ = s->options_.stream->sink->WatchAcknowledgeable([raw = s.get()] {
      {
        std::lock_guard<std::mutex> lock(raw->mu_);
        raw->ack_moved_ = true;
      }
      raw->cv_.notify_one();
    });
  }
  s->thread_ = std::thread([raw = s.get()] { raw->WriterLoop(); });
  s->ckpt_thread_ = std::thread([raw = s.get()] { raw->CheckpointLoop(); });
  return s;
}

void Store::StopWrites() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  // Never from the writer thread itself (a `done` letting go of the last
  // reference to its owner): joining itself throws, and the process ends
  // loudly rather than run on in a destroyed store. Owners call this first.
  if (thread_.joinable()) thread_.join();
  if (ack_watch_ != 0) {
    options_.stream->sink->UnwatchAcknowledgeable(ack_watch_);
    ack_watch_ = 0;
  }
}

Store::~Store() {
  StopWrites();
  {
    std::lock_guard<std::mutex> lock(ckpt_mu_);
    ckpt_stop_ = true;
  }
  ckpt_cv_.notify_all();
  if (ckpt_thread_.joinable()) ckpt_thread_.join();
  // Leave a small WAL behind: everything copied into the database file.
  if (checkpointer_) (void)checkpointer_->Exec("PRAGMA wal_checkpoint(TRUNCATE)");
}

// Copies committed WAL frames into the database after commits, at most every
// 50 ms. PASSIVE: it never blocks the writer or a reader; frames a reader
// still needs are copied on a later pass.
void Store::CheckpointLoop() {
  std::unique_lock<std::mutex> lock(ckpt_mu_);
  while (true) {
    ckpt_cv_.wait(lock, [&] { return ckpt_stop_ || commits_.load() != ckpt_seen_; });
    if (ckpt_stop_) return;
    ckpt_seen_ = commits_.load();
    lock.unlock();
    int log_frames = 0, copied = 0;
    sqlite3_wal_checkpoint_v2(checkpointer_->raw(), nullptr, SQLITE_CHECKPOINT_PASSIVE, &log_frames,
                              &copied);
    // Under a steady stream of commits the writer never finds the WAL fully
    // copied when it begins, so the WAL would only grow. Once it is large
    // and this pass copied it all (no reader holds old frames), the writer
    // is asked to copy the few frames committed since this pass
    // (see WriterLoop). A RESTART or TRUNCATE checkpoint from here would
    // take the write lock instead, and the writer, finding it busy, would
    // sleep in SQLite's busy handler for several milliseconds at a time:
    // measured, a quarter of the create throughput.
    if (log_frames > kWalResetFrames && copied == log_frames) wal_reset_wanted_.store(true);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    lock.lock();
  }
}

void Store::SubmitWrite(WriteFn fn, DoneFn done, WriteOptions options) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!stopping_) {
      queue_.push_back(Job{std::move(fn), std::move(done), options.alone, nullptr, nullptr});
      cv_.notify_one();
      return;
    }
  }
  done(Error{"the store is shutting down"});
}

// Read after every batch, so its statement is kept. sqlite_sequence appears
// with the first AUTOINCREMENT table, which only a schema change makes: it
// is looked for again after each (sequence_checked_ cleared).
std::map<std::string, int64_t> Store::ReadSequences() {
  std::map<std::string, int64_t> out;
  Status s = OkStatus();
  if (!sequence_checked_) {
    // main.: a TEMP AUTOINCREMENT table has a sqlite_sequence of its own.
    sequence_read_.reset();
    auto has = writer_->Prepare(
        "SELECT 1 FROM main.sqlite_schema WHERE type = 'table' AND name = 'sqlite_sequence'");
    if (!has.ok()) return out;
    if (has->Step(&s)) {
      auto q = writer_->Prepare("SELECT name, seq FROM main.sqlite_sequence");
      if (!q.ok()) return out;  // looked for again next time
      sequence_read_.emplace(std::move(q).value());
    } else if (!s.ok()) {
      return out;
    }
    sequence_checked_ = true;
  }
  if (!sequence_read_) return out;
  while (sequence_read_->Step(&s))
    out[std::string(sequence_read_->Text(0))] = sequence_read_->Int(1);
  sequence_read_->Reset();
  return out;
}

void Store::SubmitApply(std::shared_ptr<const std::string> entry, DoneFn done,
                        ApplyOptions options) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!stopping_) {
      queue_.push_back(Job{nullptr, std::move(done), true, std::move(entry),
                           std::make_shared<const ApplyOptions>(std::move(options))});
      cv_.notify_one();
      return;
    }
  }
  done(Error{"the store is shutting down"});
}

Status Store::Apply(std::shared_ptr<const std::string> entry, ApplyOptions options) {
  std::promise<Status> p;
  auto f = p.get_future();
  SubmitApply(
      std::move(entry), [&p](const Status& st) { p.set_value(st); }, std::move(options));
  return f.get();
}

Status Store::Write(WriteFn fn) {
  std::promise<Status> p;
  auto f = p.get_future();
  SubmitWrite(std::move(fn), [&p](const Status& st) { p.set_value(st); });
  return f.get();
}

namespace {
// Batches committed and not yet acknowledged, at most: at this many the
// writer waits for the sink before it commits more (memory, and a bound on
// what a slow sink lets pile up).
constexpr size_t kMaxUnacked = 16;
}  // namespace

void Store::WriterLoop() {
  std::vector<Job> batch;
  while (true) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      auto ready = [&] { return stopping_ || !queue_.empty() || ack_moved_; };
      if (unacked_.empty())
        cv_.wait(lock, ready);
      else
        cv_.wait_until(lock, unacked_.front().since + options_.ack_stall, ready);
      ack_moved_ = false;
      if (queue_.empty() && stopping_) {
        lock.unlock();
        Acknowledge(0);  // what was committed is acknowledged before the store stops
        return;
      }
      while (!queue_.empty() && batch.size() < options_.max_batch) {
        if (queue_.front().alone && !batch.empty()) break;  // it goes next, by itself
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
        if (batch.back().alone) break;
      }
    }
    // A sink that cannot wake the writer (no watch) is waited for here.
    Acknowledge(ack_watch_ == 0 ? 0 : kMaxUnacked - 1);
    if (batch.empty()) continue;
    CommitBatch(batch);
    batch.clear();
    Acknowledge(ack_watch_ == 0 ? 0 : kMaxUnacked);
    if (wal_reset_wanted_.exchange(false)) {
      // With every frame copied and no reader still on an old snapshot,
      // SQLite starts the WAL over at the next transaction's beginning (and
      // journal_size_limit trims the file). PASSIVE: never waits for anyone.
      sqlite3_wal_checkpoint_v2(writer_->raw(), nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr,
                                nullptr);
    }
  }
}

// One transaction for the whole batch; a SAVEPOINT per write so that a write
// that fails is undone alone and the others still commit.
void Store::CommitBatch(std::vector<Job>& batch) {
  if (batch.size() == 1 && batch[0].entry) {  // alone: see WriterLoop
    batch[0].status = ApplyEntry(*batch[0].entry, *batch[0].apply);
    sequence_checked_ = false;  // its schema changes may have made sqlite_sequence
    Hold(batch);
    return;
  }
  Connection& c = *writer_;
  // Prepared once and kept: a batch of small writes spends its time in the
  // writes, not in parsing BEGIN/SAVEPOINT/RELEASE again for each.
  auto run = [&c](const char* sql) -> Status {
    auto st = c.Cached(sql);
    if (!st.ok()) return st.error();
    return st->Run();
  };
  // Attached before BEGIN, so it records from the batch's first change. One
  // session per batch: SQLite 3.40 cannot reset one.
  // Without a stream, only the tables an observer wants now are recorded,
  // and only while there is an observer at all (effects-only: no entry).
  std::unique_ptr<BatchCapture> capture;
  if (options_.stream)
    capture = BatchCapture::Start(c.raw(), &options_.uncaptured);
  else if (observers_.Active())
    capture = BatchCapture::Start(c.raw(), &options_.uncaptured, &observers_);
  // Why this batch, if it commits, is not in the stream (told to the sink
  // after the COMMIT, so a snapshot it takes then includes the batch).
  std::string unrecorded;
  // Whatever happens below, the connection forgets this batch's capture and
  // its permission to change the schema.
  struct Reset {
    Connection& c;
    ~Reset() {
      c.SetCapture(nullptr);
      c.AllowDdl(false);
    }
  } reset{c};
  c.SetCapture(capture.get());
  c.AllowDdl(batch.size() == 1 && batch[0].alone);
  if (batch.size() == 1 && batch[0].alone)
    sequence_checked_ = false;  // it may make sqlite_sequence
  Status begin = run("BEGIN IMMEDIATE");
  if (!begin.ok()) {
    for (auto& j : batch) j.status = begin;
    Hold(batch);
    return;
  }
  for (auto& j : batch) {
    if (auto sp = run("SAVEPOINT w"); !sp.ok()) {
      j.status = sp;
      continue;
    }
    size_t mark = capture ? capture->Mark() : 0;
    try {
      j.status = j.fn(c);
    } catch (const std::exception& e) {
      j.status = Error{std::string("write failed: ") + e.what()};
    }
    if (j.status.ok()) {
      j.status = run("RELEASE w");
    } else {
      (void)run("ROLLBACK TO w");
      (void)run("RELEASE w");
      if (capture) capture->RollbackTo(mark);
    }
  }
  Status commit = OkStatus();
  std::map<std::string, int64_t> sequences;
  std::vector<CapturedOp> captured;  // for the observers, once committed
  if (capture) {
    c.SetCapture(nullptr);
    // sqlite_sequence has no primary key, so no changeset carries it; its
    // rows that moved are ops of their own. (An AUTOINCREMENT row inserted
    // and deleted in one batch leaves no other trace, yet its number must
    // never be handed out again, on a copy either.)
    if (options_.stream) sequences = ReadSequences();
    for (const auto& [table, seq] : sequences) {
      auto was = sequences_.find(table);
      if (was != sequences_.end() && was->second == seq) continue;
      auto op = EncodeSequence({seq, table});
      if (op.ok()) capture->Add(OpKind::kSequence, std::move(op).value());
    }
    auto ops = capture->Finish();
    capture.reset();
    if (ops.ok()) captured = std::move(ops).value();
    if (!options_.stream) {
      if (!ops.ok())
        Log(LogLevel::kError, "a batch's changes could not be recorded: its effects are lost",
            {{"db", options_.path}, {"error", ops.error().message}});
      commit = run("COMMIT");
    } else if (ops.ok()) {
      commit = CommitWithEntry(captured, &unrecorded);
    } else {
      unrecorded = ops.error().message;
      commit = run("COMMIT");
    }
  } else {
    commit = run("COMMIT");
  }
  if (!commit.ok()) {
    (void)run("ROLLBACK");
    for (auto& j : batch)
      if (j.status.ok()) j.status = Error{"commit failed: " + commit.error().message};
  } else {
    commits_.fetch_add(1);
    for (auto& j : batch)
      if (j.status.ok()) writes_.fetch_add(1);
    {
      std::lock_guard<std::mutex> lock(ckpt_mu_);
    }  // the checkpointer is waiting or will see the count
    ckpt_cv_.notify_one();
    if (options_.stream) sequences_ = std::move(sequences);
    if (!unrecorded.empty()) options_.stream->sink->Break(options_.name + ": " + unrecorded);
    // The observers' effects follow the commit at once (as every reader
    // sees it); the writes are acknowledged once the entry is on disk (Hold).
    if (!captured.empty()) {
      std::vector<EntryOp> view;
      view.reserve(captured.size());
      for (const CapturedOp& op : captured) view.push_back({op.kind, op.payload});
      observers_.Dispatch(c, view);
    }
  }
  last_end_ = std::max(last_end_, entry_end_);
  entry_end_ = 0;
  Hold(batch);
}

// Acknowledged now when nothing is waiting and the stream (if any) lets this
// writer's entries so far be; else after the batches before it (Acknowledge).
void Store::Hold(std::vector<Job>& batch) {
  if (!options_.stream || (unacked_.empty() && options_.stream->sink->Acknowledgeable(last_end_))) {
    for (auto& j : batch) j.done(j.status);
    return;
  }
  unacked_.push_back(Unacked{last_end_, std::chrono::steady_clock::now(), std::move(batch)});
  batch.clear();
}

void Store::Acknowledge(size_t keep) {
  if (unacked_.empty()) return;
  EntrySink& sink = *options_.stream->sink;
  while (!unacked_.empty()) {
    Unacked& u = unacked_.front();
    const auto now = std::chrono::steady_clock::now();
    bool stalled = false;
    if (sink.Acknowledgeable(u.end)) {
      stall_logged_ = false;
    } else if (unacked_.size() > keep) {
      auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(u.since + options_.ack_stall - now);
      stalled = !sink.AwaitAcknowledgeable(u.end, std::max(left, std::chrono::milliseconds(0)));
    } else if (now - u.since >= options_.ack_stall) {
      stalled = true;
    } else {
      break;
    }
    if (stalled) {
      if (!stall_logged_)
        Log(LogLevel::kWarn,
            "change stream: committed writes waited too long for the stream; acknowledging them",
            {{"db", options_.path}});
      stall_logged_ = true;
    }
    std::vector<Job> jobs = std::move(u.jobs);
    unacked_.pop_front();
    for (auto& j : jobs) j.done(j.status);
  }
}

// The batch's ops become one entry, numbered and appended just before COMMIT.
// The backup never fails a write: when the entry cannot be made or kept, the
// batch commits without it and the sink is told the stream broke. Returns
// COMMIT's status (the caller rolls back when it failed).
Status Store::CommitWithEntry(const std::vector<CapturedOp>& ops, std::string* unrecorded) {
  Connection& c = *writer_;
  StreamContext& stream = *options_.stream;
  auto commit = [&c]() -> Status {
    auto st = c.Cached("COMMIT");
    if (!st.ok()) return st.error();
    return st->Run();
  };
  if (ops.empty()) return commit();  // nothing changed: no index, no entry

  // Encoded and checksummed before the ticket: only the stamp, the append and
  // the COMMIT happen while other databases' writers wait.
  EntryView view;
  view.kind = EntryKind::kWrites;
  view.origin_node = stream.node_id;
  view.database = options_.name;
  for (const CapturedOp& op : ops) view.ops.push_back({op.kind, op.payload});
  auto bytes = EncodeEntry(view);
  if (!bytes.ok()) {
    *unrecorded = bytes.error().message;
    return commit();
  }
  auto pending = AppendEntry(std::move(bytes).value());
  if (!pending.ok()) {
    *unrecorded = pending.error().message;
    return commit();
  }
  Status committed = OkStatus();
  try {
    committed = commit();
  } catch (...) {
    Settle(*pending, Error{"COMMIT threw"});  // the ticket never stays locked
    throw;
  }
  if (!Settle(*pending, committed)) *unrecorded = "the outcome of its COMMIT is unknown";
  if (committed.ok()) entry_end_ = pending->end;
  return committed;
}

Result<Store::Pending> Store::AppendEntry(std::string bytes) {
  Connection& c = *writer_;
  StreamContext& stream = *options_.stream;
  Pending p;
  p.ticket = stream.sequencer->Take();
  try {
    StampEntry(&bytes, p.ticket.index, p.ticket.index, p.ticket.time_us, stream.sink->Generation());
    auto offset = stream.sink->Append(bytes);
    if (!offset.ok()) {
      stream.sequencer->Return(p.ticket);
      return Error{"entry " + std::to_string(p.ticket.index) +
                   " was not kept: " + offset.error().message};
    }
    p.offset = *offset;
    p.end = *offset + bytes.size();
    // Kept by this store, not in the connection's cache: a cached statement
    // is authorized once, and another caller with the same text would get
    // this one. This one is only ever prepared and stepped in the internal
    // scope (SQLite prepares it again, authorizing it again, after a schema
    // change).
    Status marked = OkStatus();
    {
      auto internal = c.InternalScope();
      if (!stream_mark_) {
        auto mark =
            c.Prepare("UPDATE _hearth_stream SET last_index = ?1, last_time = ?2 WHERE one = 1");
        if (!mark.ok())
          marked = mark.error();
        else
          stream_mark_.emplace(std::move(mark).value());
      }
      if (stream_mark_) {
        stream_mark_->Bind(1, static_cast<int64_t>(p.ticket.index)).Bind(2, p.ticket.time_us);
        marked = stream_mark_->Run();
        stream_mark_->Reset();
      }
    }
    if (!marked.ok()) {
      stream.sink->TruncateTo(p.offset);
      stream.sequencer->Return(p.ticket);
      return Error{"entry " + std::to_string(p.ticket.index) +
                   " was not recorded: " + marked.error().message};
    }
  } catch (...) {
    stream.sequencer->Return(p.ticket);
    throw;
  }
  return p;
}

// Ends the ticket. A COMMIT that failed with its transaction still open
// (the caller rolls it back) committed nothing: the entry is taken back and
// its number handed out again. One that failed otherwise (an I/O error may
// leave the commit in the WAL, to be found at the next open) may or may not
// have committed: its number is used up and the entry taken back, and the
// caller reports the stream broken (returns false).
bool Store::Settle(const Pending& p, const Status& commit) {
  StreamContext& stream = *options_.stream;
  if (commit.ok()) {
    last_index_.store(p.ticket.index);
    stream.sink->Committed(p.end);
    stream.sequencer->Commit(p.ticket);
    return true;
  }
  stream.sink->TruncateTo(p.offset);
  if (sqlite3_get_autocommit(writer_->raw()) == 0) {
    stream.sequencer->Return(p.ticket);
    return true;
  }
  stream.sequencer->Commit(p.ticket);
  return false;
}

}  // namespace hearth::store
