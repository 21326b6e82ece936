// The writer's side of the change stream (store/capture.h, Store with a
// StreamContext): every committed batch that changed something is one entry,
// numbered from one sequence across databases, with nothing a rolled-back
// write did, and the database records the index it holds.
#include "store/capture.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>
#include <future>
#include <mutex>
#include <string>
#include <vector>

#include "store/entry.h"
#include "store/store.h"

namespace hearth::store {
namespace {

// Entries kept in memory; Append can be made to fail.
class MemorySink : public EntrySink {
 public:
  Result<uint64_t> Append(std::string_view entry) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (fail_appends) return Error{"disk full"};
    uint64_t at = bytes_;
    bytes_ += entry.size();
    entries_.emplace_back(entry);
    return at;
  }
  void TruncateTo(uint64_t offset) override {
    std::lock_guard<std::mutex> lock(mu_);
    ASSERT_FALSE(entries_.empty());
    bytes_ -= entries_.back().size();
    EXPECT_EQ(bytes_, offset);  // only ever the last entry
    entries_.pop_back();
    ++truncations;
  }
  void Committed(uint64_t end) override {
    std::lock_guard<std::mutex> lock(mu_);
    committed_end = end;
  }
  uint64_t Generation() const override { return 77; }
  void Break(const std::string& why) override {
    std::lock_guard<std::mutex> lock(mu_);
    breaks.push_back(why);
  }
  std::vector<std::string> entries() {
    std::lock_guard<std::mutex> lock(mu_);
    return entries_;
  }
  void Clear() {
    std::lock_guard<std::mutex> lock(mu_);
    entries_.clear();
    bytes_ = 0;
  }
  bool fail_appends = false;
  int truncations = 0;
  uint64_t committed_end = 0;
  std::vector<std::string> breaks;

 private:
  std::mutex mu_;
  std::vector<std::string> entries_;
  uint64_t bytes_ = 0;
};

// One row change of a changeset, as "<op> <table> <first column's value>".
std::vector<std::string> Changes(std::string_view changeset) {
  std::vector<std::string> out;
  sqlite3_changeset_iter* it = nullptr;
  std::string copy(changeset);
  EXPECT_EQ(sqlite3changeset_start(&it, static_cast<int>(copy.size()), copy.data()), SQLITE_OK);
  while (sqlite3changeset_next(it) == SQLITE_ROW) {
    const char* table = nullptr;
    int columns = 0, op = 0, indirect = 0;
    sqlite3changeset_op(it, &table, &columns, &op, &indirect);
    sqlite3_value* v = nullptr;
    if (op == SQLITE_DELETE || op == SQLITE_UPDATE)
      sqlite3changeset_old(it, 0, &v);
    else
      sqlite3changeset_new(it, 0, &v);
    const char* name = op == SQLITE_INSERT ? "insert" : op == SQLITE_UPDATE ? "update" : "delete";
    auto text = v ? reinterpret_cast<const char*>(sqlite3_value_text(v)) : nullptr;
    out.push_back(std::string(name) + " " + table + " " + (text ? text : "null"));
  }
  EXPECT_EQ(sqlite3changeset_finalize(it), SQLITE_OK);
  std::sort(out.begin(), out.end());
  return out;
}

const std::vector<Migration> kMigrations = {
    {1,
     "CREATE TABLE items (id TEXT PRIMARY KEY NOT NULL, n INTEGER NOT NULL DEFAULT 0);"
     "CREATE TABLE blobs (hash TEXT PRIMARY KEY NOT NULL, data BLOB);"
     "CREATE TABLE parents (id INTEGER PRIMARY KEY);"
     "CREATE TABLE kids (id INTEGER PRIMARY KEY, parent INTEGER NOT NULL"
     "  REFERENCES parents(id) DEFERRABLE INITIALLY DEFERRED);"},
};

class CaptureTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/hearth-capture-XXXXXX";
    dir_ = mkdtemp(tmpl);
    stream_ = std::make_shared<StreamContext>();
    stream_->sequencer = &sequencer_;
    stream_->sink = &sink_;
    stream_->node_id = 0xABCD;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<Store> Open(const std::string& file, const std::string& name, bool stream = true,
                              std::vector<std::string> uncaptured = {}) {
    Store::Options o;
    o.path = dir_ + "/" + file;
    o.migrations = kMigrations;
    o.name = name;
    o.uncaptured = std::move(uncaptured);
    if (stream) o.stream = stream_;
    auto s = Store::Open(std::move(o));
    EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().message);
    return s.ok() ? std::move(s).value() : nullptr;
  }
  static Store::WriteFn Sql(std::string sql) {
    return [sql](Connection& c) { return c.Exec(sql); };
  }
  static int64_t StoredIndex(Store& s) {
    auto st = s.Reader(0).Prepare("SELECT last_index FROM _hearth_stream");
    Status status = OkStatus();
    EXPECT_TRUE(st->Step(&status));
    return st->Int(0);
  }
  // Entry i of the sink, decoded (the bytes are kept in `held_`).
  EntryView Entry(size_t i) {
    held_ = sink_.entries();
    EXPECT_LT(i, held_.size());
    auto d = DecodeEntry(held_.at(i));
    EXPECT_TRUE(d.ok()) << d.error().message;
    return *d;
  }

  std::string dir_;
  Sequencer sequencer_{1, 0};
  MemorySink sink_;
  std::shared_ptr<StreamContext> stream_;
  std::vector<std::string> held_;
};

TEST_F(CaptureTest, EachCommittedBatchIsOneEntryNumberedAcrossDatabases) {
  auto a = Open("a.db", "hearth.db");
  auto b = Open("b.db", "apps/b.example.com.db");
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(a->Write(Sql("INSERT INTO items (id) VALUES ('a1')")).ok());
  ASSERT_TRUE(b->Write(Sql("INSERT INTO items (id) VALUES ('b1')")).ok());
  ASSERT_TRUE(a->Write(Sql("UPDATE items SET n = 5 WHERE id = 'a1'")).ok());
  ASSERT_TRUE(b->Write(Sql("DELETE FROM items WHERE id = 'b1'")).ok());
  ASSERT_EQ(sink_.entries().size(), 4u);
  const char* dbs[] = {"hearth.db", "apps/b.example.com.db", "hearth.db", "apps/b.example.com.db"};
  const char* changes[] = {"insert items a1", "insert items b1", "update items a1",
                           "delete items b1"};
  int64_t last_time = 0;
  for (size_t i = 0; i < 4; ++i) {
    SCOPED_TRACE(i);
    EntryView e = Entry(i);
    EXPECT_EQ(e.index, i + 1);
    EXPECT_EQ(e.origin_seq, i + 1);
    EXPECT_EQ(e.origin_node, 0xABCDu);
    EXPECT_EQ(e.generation, 77u);
    EXPECT_EQ(e.kind, EntryKind::kWrites);
    EXPECT_EQ(e.database, dbs[i]);
    EXPECT_GE(e.commit_time_us, last_time);
    last_time = e.commit_time_us;
    ASSERT_EQ(e.ops.size(), 1u);
    EXPECT_EQ(e.ops[0].kind, OpKind::kChangeset);
    EXPECT_EQ(Changes(e.ops[0].payload), std::vector<std::string>{changes[i]});
  }
  // Each database records the last index it holds, in the same transaction.
  EXPECT_EQ(StoredIndex(*a), 3);
  EXPECT_EQ(StoredIndex(*b), 4);
  EXPECT_EQ(a->last_index(), 3u);
  EXPECT_EQ(sequencer_.next(), 5u);
  // And it is read back when the database is opened again.
  a.reset();
  a = Open("a.db", "hearth.db");
  EXPECT_EQ(a->last_index(), 3u);
}

// A group commit: the failed write's changes are not in the entry, the
// others' are, in one entry.
TEST_F(CaptureTest, AFailedWriteLeavesNoTraceInTheBatchEntry) {
  auto a = Open("a.db", "hearth.db");
  ASSERT_TRUE(a);
  std::promise<void> go;
  auto gate = go.get_future().share();
  std::promise<Status> first;
  std::promise<void> started;
  a->SubmitWrite(
      [gate, &started](Connection& c) {
        started.set_value();
        gate.wait();  // holds the writer so the next three queue into one batch
        return c.Exec("INSERT INTO items (id) VALUES ('x0')");
      },
      [&](const Status& s) { first.set_value(s); });
  started.get_future().wait();
  std::vector<std::promise<Status>> done(3);
  a->SubmitWrite(Sql("INSERT INTO items (id) VALUES ('x1')"),
                 [&](const Status& s) { done[0].set_value(s); });
  a->SubmitWrite(
      [](Connection& c) -> Status {
        if (auto s = c.Exec("INSERT INTO items (id) VALUES ('gone')"); !s.ok()) return s;
        return Error{"refused after writing"};
      },
      [&](const Status& s) { done[1].set_value(s); });
  a->SubmitWrite(
      Sql("INSERT INTO items (id) VALUES ('x2'); UPDATE items SET n = 1 WHERE id = 'x1'"),
      [&](const Status& s) { done[2].set_value(s); });
  go.set_value();
  EXPECT_TRUE(first.get_future().get().ok());
  EXPECT_TRUE(done[0].get_future().get().ok());
  EXPECT_FALSE(done[1].get_future().get().ok());
  EXPECT_TRUE(done[2].get_future().get().ok());
  ASSERT_EQ(sink_.entries().size(), 2u);
  EXPECT_EQ(Changes(Entry(0).ops[0].payload), std::vector<std::string>{"insert items x0"});
  // x1's insert and update are one insert of the final row; 'gone' is absent.
  EXPECT_EQ(Changes(Entry(1).ops[0].payload),
            (std::vector<std::string>{"insert items x1", "insert items x2"}));
}

TEST_F(CaptureTest, ABatchThatChangedNothingTakesNoIndex) {
  auto a = Open("a.db", "hearth.db");
  ASSERT_TRUE(a);
  ASSERT_TRUE(a->Write(Sql("UPDATE items SET n = 1 WHERE id = 'none'")).ok());
  ASSERT_TRUE(a->Write(Sql("INSERT INTO items (id) VALUES ('t'); DELETE FROM items")).ok());
  EXPECT_FALSE(a->Write([](Connection& c) -> Status {
                  (void)c.Exec("INSERT INTO items (id) VALUES ('u')");
                  return Error{"no"};
                }).ok());
  EXPECT_TRUE(sink_.entries().empty());
  EXPECT_EQ(sequencer_.next(), 1u);
  EXPECT_EQ(StoredIndex(*a), 0);
  ASSERT_TRUE(a->Write(Sql("INSERT INTO items (id) VALUES ('v')")).ok());
  EXPECT_EQ(Entry(0).index, 1u);
}

// Deploy bytes never ride in a changeset (they travel as blob ops); in an
// app database "blobs" is just a collection's name, captured like any.
TEST_F(CaptureTest, BlobsAreNotCapturedWhereTheStoreSaysSo) {
  auto app = Open("app.db", "apps/app.db");
  ASSERT_TRUE(app);
  ASSERT_TRUE(app->Write(Sql("INSERT INTO blobs VALUES ('rec', NULL)")).ok());
  ASSERT_EQ(sink_.entries().size(), 1u);
  EXPECT_EQ(Changes(Entry(0).ops[0].payload), std::vector<std::string>{"insert blobs rec"});
  sink_.Clear();
  auto a = Open("a.db", "hearth.db", true, {"blobs", "blob_variants"});
  ASSERT_TRUE(a);
  // Where they are not captured, only the byte helpers may write them (their
  // changes travel as blob ops); plain SQL is refused at prepare time.
  Status direct = a->Write(Sql("INSERT INTO blobs VALUES ('h', zeroblob(100000))"));
  ASSERT_FALSE(direct.ok());
  EXPECT_NE(direct.error().message.find("not authorized"), std::string::npos)
      << direct.error().message;
  EXPECT_FALSE(a->Write(Sql("DELETE FROM blobs")).ok());
  EXPECT_FALSE(a->Write(Sql("UPDATE blobs SET data = NULL")).ok());
  EXPECT_TRUE(sink_.entries().empty());
}

// A COMMIT that fails (a deferred foreign key) takes its entry back out of
// the sink and returns its number: the next batch gets the same one.
TEST_F(CaptureTest, AFailedCommitTakesItsEntryBack) {
  auto a = Open("a.db", "hearth.db");
  ASSERT_TRUE(a);
  ASSERT_TRUE(a->Write(Sql("INSERT INTO items (id) VALUES ('first')")).ok());
  Status bad = a->Write(Sql("INSERT INTO kids (id, parent) VALUES (1, 99)"));
  EXPECT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("commit failed"), std::string::npos) << bad.error().message;
  EXPECT_EQ(sink_.truncations, 1);
  EXPECT_EQ(sink_.entries().size(), 1u);
  EXPECT_EQ(StoredIndex(*a), 1);
  EXPECT_EQ(sequencer_.next(), 2u);
  ASSERT_TRUE(
      a->Write(Sql("INSERT INTO parents VALUES (99); INSERT INTO kids VALUES (1, 99)")).ok());
  ASSERT_EQ(sink_.entries().size(), 2u);
  EXPECT_EQ(Entry(1).index, 2u);
  EXPECT_EQ(StoredIndex(*a), 2);
  EXPECT_TRUE(sink_.breaks.empty());
}

// A sink that cannot keep an entry never fails the write: the batch commits,
// the number is not used, and the sink hears that the stream broke.
TEST_F(CaptureTest, ASinkFailureNeverFailsTheWrite) {
  auto a = Open("a.db", "hearth.db");
  ASSERT_TRUE(a);
  sink_.fail_appends = true;
  ASSERT_TRUE(a->Write(Sql("INSERT INTO items (id) VALUES ('kept')")).ok());
  ASSERT_EQ(sink_.breaks.size(), 1u);
  EXPECT_EQ(sink_.breaks[0], "hearth.db: entry 1 was not kept: disk full");
  EXPECT_EQ(sequencer_.next(), 1u);
  EXPECT_EQ(StoredIndex(*a), 0);
  auto st = a->Reader(0).Prepare("SELECT count(*) FROM items WHERE id = 'kept'");
  Status s = OkStatus();
  ASSERT_TRUE(st->Step(&s));
  EXPECT_EQ(st->Int(0), 1);
  sink_.fail_appends = false;
  ASSERT_TRUE(a->Write(Sql("INSERT INTO items (id) VALUES ('next')")).ok());
  EXPECT_EQ(Entry(0).index, 1u);
}

// Without a stream a store writes as before: it takes no index from the
// sequence others share, and its bookkeeping table is there (so a later
// stream finds it) but untouched.
TEST_F(CaptureTest, AStoreWithoutAStreamTakesNoIndex) {
  auto streamed = Open("s.db", "hearth.db");
  auto plain = Open("p.db", "apps/p.db", /*stream=*/false);
  ASSERT_TRUE(streamed && plain);
  ASSERT_TRUE(plain->Write(Sql("INSERT INTO items (id) VALUES ('a')")).ok());
  ASSERT_TRUE(streamed->Write(Sql("INSERT INTO items (id) VALUES ('b')")).ok());
  ASSERT_TRUE(plain->Write(Sql("INSERT INTO items (id) VALUES ('c')")).ok());
  EXPECT_EQ(sequencer_.next(), 2u);
  ASSERT_EQ(sink_.entries().size(), 1u);
  EXPECT_EQ(Entry(0).database, "hearth.db");
  EXPECT_EQ(StoredIndex(*plain), 0);
  EXPECT_EQ(StoredIndex(*streamed), 1);
  // The sink heard that the entry committed, and where it ends.
  EXPECT_EQ(sink_.committed_end, sink_.entries()[0].size());
}

TEST_F(CaptureTest, AStreamedStoreNeedsAUsableNameSinkAndSequencer) {
  for (const char* name : {"", "other.db", "apps/../x.db"}) {
    Store::Options o;
    o.path = dir_ + "/x.db";
    o.stream = stream_;
    o.name = name;
    auto s = Store::Open(std::move(o));
    ASSERT_FALSE(s.ok()) << name;
    EXPECT_NE(s.error().message.find("cannot name a database in the change stream"),
              std::string::npos)
        << s.error().message;
  }
  Store::Options o;
  o.path = dir_ + "/x.db";
  o.stream = std::make_shared<StreamContext>();
  o.name = "hearth.db";
  auto s = Store::Open(std::move(o));
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("needs its sink and sequencer"), std::string::npos);
}

// A schema change and the writes around it in one write: the entry replays
// them in order (changeset, ddl, changeset).
TEST_F(CaptureTest, DdlIsRecordedBetweenTheChangesetsAroundIt) {
  auto a = Open("a.db", "apps/a.db");
  ASSERT_TRUE(a);
  std::promise<Status> done;
  a->SubmitWrite(
      [](Connection& c) -> Status {
        if (auto s = c.Exec("INSERT INTO items (id) VALUES ('before')"); !s.ok()) return s;
        if (auto s = c.Ddl("ALTER TABLE items ADD COLUMN note TEXT NOT NULL DEFAULT ''"); !s.ok())
          return s;
        return c.Exec("INSERT INTO items (id, note) VALUES ('after', 'n')");
      },
      [&](const Status& s) { done.set_value(s); }, Store::WriteOptions{.alone = true});
  Status st = done.get_future().get();
  ASSERT_TRUE(st.ok()) << st.error().message;
  ASSERT_EQ(sink_.entries().size(), 1u);
  EntryView e = Entry(0);
  ASSERT_EQ(e.ops.size(), 3u);
  EXPECT_EQ(e.ops[0].kind, OpKind::kChangeset);
  EXPECT_EQ(Changes(e.ops[0].payload), std::vector<std::string>{"insert items before"});
  EXPECT_EQ(e.ops[1].kind, OpKind::kDdl);
  // With the rewrite that stores the new column's default in every row (a
  // copy runs it too): SQLite 3.40's session would otherwise report a NULL
  // old value for the column in rows written before it.
  EXPECT_EQ(e.ops[1].payload,
            "ALTER TABLE items ADD COLUMN note TEXT NOT NULL DEFAULT '';\n"
            "UPDATE \"items\" SET \"note\" = \"note\"");
  EXPECT_EQ(e.ops[2].kind, OpKind::kChangeset);
  EXPECT_EQ(Changes(e.ops[2].payload), std::vector<std::string>{"insert items after"});
  EXPECT_TRUE(sink_.breaks.empty());
}

// A schema-changing write that fails leaves nothing, and the stream goes on.
TEST_F(CaptureTest, AFailedSchemaChangeLeavesNoEntry) {
  auto a = Open("a.db", "apps/a.db");
  ASSERT_TRUE(a);
  std::promise<Status> done;
  a->SubmitWrite(
      [](Connection& c) -> Status {
        if (auto s = c.Exec("INSERT INTO items (id) VALUES ('x')"); !s.ok()) return s;
        if (auto s = c.Ddl("CREATE TABLE posts (id TEXT PRIMARY KEY NOT NULL)"); !s.ok()) return s;
        if (auto s = c.Exec("INSERT INTO posts VALUES ('p')"); !s.ok()) return s;
        return Error{"changed my mind"};
      },
      [&](const Status& s) { done.set_value(s); }, Store::WriteOptions{.alone = true});
  EXPECT_FALSE(done.get_future().get().ok());
  EXPECT_TRUE(sink_.entries().empty());
  EXPECT_TRUE(sink_.breaks.empty());
  ASSERT_TRUE(a->Write(Sql("INSERT INTO items (id) VALUES ('y')")).ok());
  ASSERT_EQ(sink_.entries().size(), 1u);
  EXPECT_EQ(Changes(Entry(0).ops[0].payload), std::vector<std::string>{"insert items y"});
}

TEST_F(CaptureTest, DdlRefusesWhatChangesetsCouldNotCarry) {
  auto a = Open("a.db", "apps/a.db");
  ASSERT_TRUE(a);
  auto alone = [&](std::string sql) {
    std::promise<Status> done;
    a->SubmitWrite([sql](Connection& c) { return c.Ddl(sql); },
                   [&](const Status& s) { done.set_value(s); }, Store::WriteOptions{.alone = true});
    Status s = done.get_future().get();
    return s.ok() ? std::string("ok") : s.error().message;
  };
  EXPECT_EQ(alone("CREATE TABLE t1 (a TEXT)"), "table t1 has no primary key");
  EXPECT_EQ(alone("CREATE TABLE t2 (a TEXT PRIMARY KEY)"),
            "table t2's primary key column a may be NULL (declare it NOT NULL)");
  EXPECT_EQ(alone("CREATE TABLE t3 (a TEXT PRIMARY KEY NOT NULL)"), "ok");
  // Not alone: a session cannot span the change, so it is refused.
  Status grouped =
      a->Write([](Connection& c) { return c.Ddl("CREATE TABLE t4 (a INTEGER PRIMARY KEY)"); });
  ASSERT_FALSE(grouped.ok());
  EXPECT_EQ(grouped.error().message,
            "a schema change must be a write of its own (submit it with alone = true)");
  ASSERT_EQ(sink_.entries().size(), 1u);  // t3's
  EXPECT_EQ(Entry(0).ops.size(), 1u);
  EXPECT_EQ(Entry(0).ops[0].kind, OpKind::kDdl);
}

// On a writer, schema changes go through Ddl, triggers and virtual tables
// and attached databases never happen, and the stream's bookkeeping is the
// store's alone; temporary objects are free.
TEST_F(CaptureTest, TheWriterRefusesSqlTheStreamCouldNotFollow) {
  auto a = Open("a.db", "apps/a.db", /*stream=*/false);
  ASSERT_TRUE(a);
  for (const char* sql : {"CREATE TABLE t (a INTEGER PRIMARY KEY)", "CREATE INDEX i ON items (n)",
                          "DROP TABLE items", "ALTER TABLE items ADD COLUMN z TEXT",
                          "CREATE VIEW v AS SELECT 1", "UPDATE _hearth_stream SET last_index = 99",
                          "DELETE FROM _hearth_stream", "ATTACH DATABASE ':memory:' AS other"}) {
    Status s = a->Write(Sql(sql));
    ASSERT_FALSE(s.ok()) << sql;
    EXPECT_NE(s.error().message.find("not authorized"), std::string::npos) << sql;
  }
  std::promise<Status> done;
  a->SubmitWrite(
      [](Connection& c) {
        return c.Ddl(
            "CREATE TRIGGER tr AFTER INSERT ON items BEGIN UPDATE items SET n = n + 1; END");
      },
      [&](const Status& s) { done.set_value(s); }, Store::WriteOptions{.alone = true});
  Status trigger = done.get_future().get();
  ASSERT_FALSE(trigger.ok());
  EXPECT_NE(trigger.error().message.find("not authorized"), std::string::npos);
  for (const char* sql : {"PRAGMA writable_schema = ON", "PRAGMA user_version = 7",
                          "PRAGMA journal_mode = DELETE", "PRAGMA schema_version = 1"}) {
    Status s = a->Write(Sql(sql));
    ASSERT_FALSE(s.ok()) << sql;
    EXPECT_NE(s.error().message.find("not authorized"), std::string::npos) << sql;
  }
  EXPECT_TRUE(a->Write(Sql("CREATE TEMP TABLE scratch (a); INSERT INTO scratch VALUES (1)")).ok());
  EXPECT_TRUE(a->Write(Sql("CREATE TABLE temp.scratch2 (a); CREATE INDEX temp.i2 ON scratch2 (a); "
                           "CREATE TEMP TRIGGER tt AFTER INSERT ON scratch2 BEGIN SELECT 1; END"))
                  .ok());
  EXPECT_TRUE(a->Write(Sql("PRAGMA foreign_keys = ON")).ok());
  EXPECT_EQ(StoredIndex(*a), 0);
}

// A migration of a database the stream already holds is an entry of its own,
// carrying the SQL (a copy replays it); a new database's migrations are not.
TEST_F(CaptureTest, MigrationsOfAStreamedDatabaseAreEntries) {
  auto a = Open("a.db", "apps/a.db");
  ASSERT_TRUE(a);
  ASSERT_TRUE(a->Write(Sql("INSERT INTO items (id) VALUES ('one')")).ok());
  a.reset();
  ASSERT_EQ(sink_.entries().size(), 1u);
  Store::Options o;
  o.path = dir_ + "/a.db";
  o.migrations = kMigrations;
  o.migrations.push_back({2,
                          "ALTER TABLE items ADD COLUMN note TEXT NOT NULL DEFAULT '';"
                          "UPDATE items SET note = 'migrated';"});
  o.name = "apps/a.db";
  o.stream = stream_;
  auto reopened = Store::Open(std::move(o));
  ASSERT_TRUE(reopened.ok()) << reopened.error().message;
  ASSERT_EQ(sink_.entries().size(), 2u);
  EntryView e = Entry(1);
  EXPECT_EQ(e.index, 2u);
  EXPECT_EQ(e.kind, EntryKind::kMigration);
  ASSERT_EQ(e.ops.size(), 1u);
  auto m = DecodeMigration(e.ops[0].payload);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->version, 2u);
  EXPECT_NE(m->sql.find("UPDATE items SET note = 'migrated'"), std::string::npos);
  EXPECT_EQ((*reopened)->last_index(), 2u);
  EXPECT_EQ(StoredIndex(**reopened), 2);
  // A database new to the stream (index 0): no migration entries.
  auto fresh = Open("fresh.db", "apps/fresh.db");
  ASSERT_TRUE(fresh);
  EXPECT_EQ(sink_.entries().size(), 2u);
}

}  // namespace
}  // namespace hearth::store
