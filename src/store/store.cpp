#include "store/store.h"

#include <chrono>
#include <future>

#include "base/log.h"

namespace hearth::store {
namespace {
constexpr int kWalResetFrames = 4096;  // 16 MiB of 4 KiB pages
}  // namespace

Result<int> Migrate(Connection& conn, const std::vector<Migration>& migrations,
                    const std::string& what) {
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
    Status applied = conn.Exec(m.sql);
    if (applied.ok()) applied = conn.Exec("PRAGMA user_version = " + std::to_string(m.version));
    if (applied.ok()) applied = conn.Exec("COMMIT");
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
  auto version = Migrate(*s->writer_, s->options_.migrations, s->options_.path);
  if (!version.ok()) return version.error();
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

void Store::SubmitWrite(WriteFn fn, DoneFn done) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!stopping_) {
      queue_.push_back(Job{std::move(fn), std::move(done)});
      cv_.notify_one();
      return;
    }
  }
  done(Error{"the store is shutting down"});
}

Status Store::Write(WriteFn fn) {
  std::promise<Status> p;
  auto f = p.get_future();
  SubmitWrite(std::move(fn), [&p](const Status& st) { p.set_value(st); });
  return f.get();
}

void Store::WriterLoop() {
  std::vector<Job> batch;
  while (true) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty() && stopping_) return;
      while (!queue_.empty() && batch.size() < options_.max_batch) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    CommitBatch(batch);
    batch.clear();
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
  Connection& c = *writer_;
  // Prepared once and kept: a batch of small writes spends its time in the
  // writes, not in parsing BEGIN/SAVEPOINT/RELEASE again for each.
  auto run = [&c](const char* sql) -> Status {
    auto st = c.Cached(sql);
    if (!st.ok()) return st.error();
    return st->Run();
  };
  Status begin = run("BEGIN IMMEDIATE");
  if (!begin.ok()) {
    for (auto& j : batch) j.done(begin);
    return;
  }
  for (auto& j : batch) {
    if (auto sp = run("SAVEPOINT w"); !sp.ok()) {
      j.status = sp;
      continue;
    }
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
    }
  }
  Status commit = run("COMMIT");
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
  }
  for (auto& j : batch) j.done(j.status);
}

}  // namespace hearth::store
