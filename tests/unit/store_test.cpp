#include "store/store.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <thread>

namespace hearth::store {
namespace {

const std::vector<Migration> kMigrations = {
    {1, "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);"},
    {2, "ALTER TABLE items ADD COLUMN note TEXT NOT NULL DEFAULT '';"},
};
const std::vector<NamedStatement> kStatements = {
    {"items.insert", "INSERT INTO items(name) VALUES (?1)"},
    {"items.count", "SELECT count(*) FROM items"},
    {"items.by_name", "SELECT id, note FROM items WHERE name = ?1"},
};

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/hearth-store-XXXXXX";
    dir_ = mkdtemp(tmpl);
    path_ = dir_ + "/test.db";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::unique_ptr<Store> OpenStore(std::vector<Migration> migrations = kMigrations,
                                   std::vector<NamedStatement> statements = kStatements) {
    Store::Options o;
    o.path = path_;
    o.readers = 2;
    o.migrations = std::move(migrations);
    o.statements = std::move(statements);
    auto s = Store::Open(std::move(o));
    EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().message);
    return s.ok() ? std::move(s).value() : nullptr;
  }
  int64_t Count(Connection& c) {
    Statement st = c.Named("items.count");
    Status s = OkStatus();
    EXPECT_TRUE(st.Step(&s));
    return st.Int(0);
  }
  static Status Insert(Connection& c, const std::string& name) {
    return c.Named("items.insert").Bind(1, name).Run();
  }
  std::string dir_, path_;
};

// Under a steady stream of commits the WAL is started over once it passes
// 16 MiB (and trimmed back to it), rather than growing with every write.
TEST_F(StoreTest, TheWalStaysBoundedUnderSteadyWrites) {
  auto s = OpenStore();
  ASSERT_TRUE(s);
  const std::string note(8000, 'x');  // two pages per row
  for (int i = 0; i < 8000; ++i) {
    ASSERT_TRUE(s->Write([&](Connection& c) {
                   return c.Prepare("INSERT INTO items(name, note) VALUES (?1, ?2)")
                       ->Bind(1, "n" + std::to_string(i))
                       .Bind(2, note)
                       .Run();
                 }).ok());
  }
  // 8000 commits of 2-3 frames each: about 80 MiB of WAL if never reset.
  // On a loaded machine (ctest -j) the checkpointer may trail the writer at
  // the end of the burst: a few more commits, spaced out, let it catch up
  // and the writer start the WAL over. A WAL that is never reset stays big.
  for (int i = 0; i < 40 && std::filesystem::file_size(path_ + "-wal") > (48ull << 20); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    ASSERT_TRUE(
        s->Write([&](Connection& c) { return Insert(c, "late" + std::to_string(i)); }).ok());
  }
  uint64_t wal = std::filesystem::file_size(path_ + "-wal");
  EXPECT_LE(wal, 48ull << 20) << "the WAL grew to " << wal;  // ~170 MB if never started over
  EXPECT_GE(Count(s->Reader(0)), 8000);
}

// A parameter left unbound would read as NULL, and a rule compared with NULL
// can let through a row it should hide (`x != ?` is true): such a statement
// does not run at all. Bound as NULL on purpose, it does.
TEST_F(StoreTest, AStatementWithAnUnboundParameterDoesNotRun) {
  auto s = OpenStore();
  ASSERT_TRUE(s);
  ASSERT_TRUE(s->Write([](Connection& c) { return Insert(c, "a"); }).ok());
  Connection& rd = s->Reader(0);
  for (const char* sql : {"SELECT count(*) FROM items WHERE name != ?1 AND id > ?2",
                          // The mistake the data API made: a bare ? after ?N is numbered past it.
                          "SELECT count(*) FROM items WHERE id = ?1 AND name != ?"}) {
    auto st = rd.Cached(sql);
    ASSERT_TRUE(st.ok());
    st->Bind(1, int64_t{0});
    Status status = OkStatus();
    EXPECT_FALSE(st->Step(&status)) << sql;
    ASSERT_FALSE(status.ok()) << sql;
    EXPECT_NE(status.error().message.find("not bound"), std::string::npos);
    st->Reset();
  }
  auto st = rd.Cached("SELECT count(*) FROM items WHERE name IS NOT ?1 AND id > ?2");
  st->BindNull(1).Bind(2, int64_t{0});
  Status status = OkStatus();
  ASSERT_TRUE(st->Step(&status)) << (status.ok() ? "" : status.error().message);
  EXPECT_EQ(st->Int(0), 1);
  st->Reset();
  // Past the first 64 parameters too; and a reset forgets what was bound.
  std::string many = "SELECT ?1";
  for (int i = 2; i <= 70; ++i) many += " + ?" + std::to_string(i);
  auto m = rd.Cached(many);
  for (int i = 1; i <= 69; ++i) m->Bind(i, int64_t{1});
  status = OkStatus();
  EXPECT_FALSE(m->Step(&status));
  EXPECT_FALSE(status.ok());
  m->Reset();
  for (int i = 1; i <= 70; ++i) m->Bind(i, int64_t{1});
  status = OkStatus();
  ASSERT_TRUE(m->Step(&status));
  EXPECT_EQ(m->Int(0), 70);
  m->Reset();
  for (int i = 1; i <= 69; ++i) m->Bind(i, int64_t{1});
  status = OkStatus();
  EXPECT_FALSE(m->Step(&status)) << "bindings from before the reset do not count";
}

TEST_F(StoreTest, OpenMigratesToTheLatestVersion) {
  auto s = OpenStore();
  ASSERT_TRUE(s);
  EXPECT_EQ(s->schema_version(), 2);
  // WAL is on: readers never wait for the writer.
  auto st = s->Reader(0).Prepare("PRAGMA journal_mode");
  ASSERT_TRUE(st.ok());
  Status status = OkStatus();
  ASSERT_TRUE(st->Step(&status));
  EXPECT_EQ(st->Text(0), "wal");
}

TEST_F(StoreTest, ReopenIsIdempotent) {
  {
    auto s = OpenStore();
    ASSERT_TRUE(s);
    ASSERT_TRUE(s->Write([](Connection& c) { return Insert(c, "a"); }).ok());
  }
  auto s = OpenStore();
  ASSERT_TRUE(s);
  EXPECT_EQ(s->schema_version(), 2);
  EXPECT_EQ(Count(s->Reader(0)), 1);
}

TEST_F(StoreTest, RefusesDatabaseFromNewerVersion) {
  {
    auto s = OpenStore();
    ASSERT_TRUE(s);
  }
  {
    auto c = Connection::Open(path_, Connection::Mode::kReadWrite);
    ASSERT_TRUE(c.ok());
    ASSERT_TRUE((*c)->Exec("PRAGMA user_version = 7").ok());
  }
  Store::Options o;
  o.path = path_;
  o.migrations = kMigrations;
  auto s = Store::Open(std::move(o));
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("newer hearth"), std::string::npos) << s.error().message;
  EXPECT_NE(s.error().message.find("7"), std::string::npos);
}

TEST_F(StoreTest, FailedMigrationLeavesThePreviousVersion) {
  {
    auto s = OpenStore({kMigrations[0]}, {kStatements[0]});
    ASSERT_TRUE(s);
    ASSERT_TRUE(s->Write([](Connection& c) { return Insert(c, "kept"); }).ok());
  }
  std::vector<Migration> bad = {kMigrations[0],
                                {2, "CREATE TABLE half (x); INSERT INTO nope VALUES (1);"}};
  Store::Options o;
  o.path = path_;
  o.migrations = bad;
  auto s = Store::Open(std::move(o));
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("migration 2 failed"), std::string::npos) << s.error().message;
  auto c = Connection::Open(path_, Connection::Mode::kReadWrite);
  ASSERT_TRUE(c.ok());
  auto v = (*c)->Prepare("PRAGMA user_version");
  Status st = OkStatus();
  ASSERT_TRUE(v->Step(&st));
  EXPECT_EQ(v->Int(0), 1);
  auto half = (*c)->Prepare("SELECT count(*) FROM sqlite_master WHERE name = 'half'");
  ASSERT_TRUE(half->Step(&st));
  EXPECT_EQ(half->Int(0), 0);  // the failed migration's first statement was rolled back
}

TEST_F(StoreTest, ReadersSeeCommittedWrites) {
  auto s = OpenStore();
  ASSERT_TRUE(s);
  EXPECT_EQ(Count(s->Reader(1)), 0);
  ASSERT_TRUE(s->Write([](Connection& c) { return Insert(c, "x"); }).ok());
  EXPECT_EQ(Count(s->Reader(0)), 1);
  EXPECT_EQ(Count(s->Reader(1)), 1);
  // And so does a connection that did not exist before: it is on disk.
  auto other = Connection::Open(path_, Connection::Mode::kReadOnly);
  ASSERT_TRUE(other.ok());
  auto st = (*other)->Prepare("SELECT name FROM items");
  Status status = OkStatus();
  ASSERT_TRUE(st->Step(&status));
  EXPECT_EQ(st->Text(0), "x");
}

TEST_F(StoreTest, ConcurrentWritesAreGroupCommitted) {
  auto s = OpenStore();
  ASSERT_TRUE(s);
  // Hold the writer so that the next writes queue up behind it.
  std::atomic<bool> release{false};
  std::atomic<int> done{0};
  s->SubmitWrite(
      [&](Connection& c) {
        while (!release.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
        return Insert(c, "first");
      },
      [&](const Status& st) {
        EXPECT_TRUE(st.ok());
        done++;
      });
  const int kWrites = 200;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kWrites / 4; ++i) {
        std::string name = "n" + std::to_string(t) + "-" + std::to_string(i);
        s->SubmitWrite([name](Connection& c) { return Insert(c, name); },
                       [&](const Status& st) {
                         EXPECT_TRUE(st.ok()) << st.error().message;
                         done++;
                       });
      }
    });
  }
  for (auto& t : threads) t.join();
  release = true;
  while (done.load() < kWrites + 1) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  EXPECT_EQ(Count(s->Reader(0)), kWrites + 1);
  EXPECT_EQ(s->writes(), static_cast<uint64_t>(kWrites + 1));
  EXPECT_LE(s->commits(), 3u);  // the 200 queued writes went in one or two transactions
}

TEST_F(StoreTest, AFailingWriteIsUndoneAloneInItsBatch) {
  auto s = OpenStore();
  ASSERT_TRUE(s);
  std::atomic<bool> release{false};
  std::atomic<int> done{0};
  Status bad = OkStatus(), good = OkStatus();
  s->SubmitWrite(
      [&](Connection& c) {
        while (!release.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
        return Insert(c, "a");
      },
      [&](const Status&) { done++; });
  s->SubmitWrite(
      [](Connection& c) {
        // Inserts, then fails: its row must not survive.
        if (auto st = Insert(c, "doomed"); !st.ok()) return st;
        return Insert(c, "a");  // UNIQUE violation
      },
      [&](const Status& st) {
        bad = st;
        done++;
      });
  s->SubmitWrite([](Connection& c) { return Insert(c, "b"); },
                 [&](const Status& st) {
                   good = st;
                   done++;
                 });
  release = true;
  while (done.load() < 3) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  EXPECT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("UNIQUE"), std::string::npos) << bad.error().message;
  EXPECT_TRUE(good.ok());
  EXPECT_EQ(Count(s->Reader(0)), 2);  // a and b; not "doomed"
  Statement st = s->Reader(0).Named("items.by_name");
  st.Bind(1, std::string_view("doomed"));
  Status status = OkStatus();
  EXPECT_FALSE(st.Step(&status));
}

TEST_F(StoreTest, AReaderLeftMidResultStillSeesLaterWrites) {
  auto s = OpenStore();
  ASSERT_TRUE(s);
  ASSERT_TRUE(s->Write([](Connection& c) { return Insert(c, "a"); }).ok());
  {
    // Take one row of a multi-row result and walk away.
    auto st = s->Reader(0).Named("items.count");
    Status status = OkStatus();
    ASSERT_TRUE(st.Step(&status));
  }
  ASSERT_TRUE(s->Write([](Connection& c) { return Insert(c, "b"); }).ok());
  // Another statement on the same connection: it must not be stuck in the
  // snapshot the abandoned one opened.
  Statement by_name = s->Reader(0).Named("items.by_name");
  by_name.Bind(1, std::string_view("b"));
  Status status = OkStatus();
  EXPECT_TRUE(by_name.Step(&status));
}

TEST_F(StoreTest, ClosingFinishesQueuedWrites) {
  std::atomic<int> ok{0};
  {
    auto s = OpenStore();
    ASSERT_TRUE(s);
    for (int i = 0; i < 50; ++i)
      s->SubmitWrite([i](Connection& c) { return Insert(c, "q" + std::to_string(i)); },
                     [&](const Status& st) {
                       if (st.ok()) ok++;
                     });
  }
  EXPECT_EQ(ok.load(), 50);
  auto s = OpenStore();
  EXPECT_EQ(Count(s->Reader(0)), 50);
}

TEST_F(StoreTest, StatementsKnowIfTheyWrite) {
  auto s = OpenStore();
  ASSERT_TRUE(s);
  auto r = s->Reader(0).Prepare("SELECT name FROM items WHERE id > ?1");
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->ReadOnly());
  auto w = s->Reader(0).Prepare("DELETE FROM items");
  ASSERT_TRUE(w.ok());
  EXPECT_FALSE(w->ReadOnly());
  EXPECT_FALSE(s->Reader(0).Prepare("SELECT 1; SELECT 2").ok());  // one statement at a time
  EXPECT_FALSE(s->Reader(0).Prepare("SELEC nonsense").ok());
}

TEST_F(StoreTest, ABadNamedStatementFailsOpen) {
  Store::Options o;
  o.path = path_;
  o.migrations = kMigrations;
  o.statements = {{"broken", "SELECT nope FROM items"}};
  auto s = Store::Open(std::move(o));
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("broken"), std::string::npos);
}

TEST_F(StoreTest, ReaderCannotWrite) {
  auto s = OpenStore();
  ASSERT_TRUE(s);
  EXPECT_FALSE(Insert(s->Reader(0), "sneaky").ok());
}

}  // namespace
}  // namespace hearth::store

namespace hearth::store {
namespace {

TEST_F(StoreTest, FillBlobWritesALargeValueInPieces) {
  auto c = Connection::Open(path_, Connection::Mode::kReadWrite);
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE((*c)->Exec("CREATE TABLE b (id INTEGER PRIMARY KEY, data BLOB NOT NULL)").ok());
  const uint64_t size = 3 * 256 * 1024 + 17;  // several pieces and a short last one
  ASSERT_TRUE(
      (*c)->Exec("INSERT INTO b(id, data) VALUES (1, zeroblob(" + std::to_string(size) + "))")
          .ok());
  std::vector<std::pair<uint64_t, size_t>> reads;
  Status st =
      (*c)->FillBlob("b", "data", 1, size, [&](uint64_t off, char* buf, size_t n) -> Status {
        reads.emplace_back(off, n);
        for (size_t i = 0; i < n; ++i) buf[i] = static_cast<char>((off + i) % 251);
        return OkStatus();
      });
  ASSERT_TRUE(st.ok()) << st.error().message;
  EXPECT_EQ(reads.size(), 4u);
  auto q = (*c)->Prepare("SELECT data FROM b WHERE id = 1");
  ASSERT_TRUE(q.ok());
  Status s = OkStatus();
  ASSERT_TRUE(q->Step(&s));
  std::string_view got = q->Blob(0);
  ASSERT_EQ(got.size(), size);
  bool same = true;
  for (uint64_t i = 0; i < size; ++i) same = same && got[i] == static_cast<char>(i % 251);
  EXPECT_TRUE(same);
}

TEST_F(StoreTest, FillBlobRefusesASizeMismatchAndPassesReadErrorsOn) {
  auto c = Connection::Open(path_, Connection::Mode::kReadWrite);
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE((*c)->Exec("CREATE TABLE b (id INTEGER PRIMARY KEY, data BLOB NOT NULL);"
                         "INSERT INTO b(id, data) VALUES (1, zeroblob(10))")
                  .ok());
  auto never = [](uint64_t, char*, size_t) -> Status { return OkStatus(); };
  EXPECT_FALSE((*c)->FillBlob("b", "data", 1, 11, never).ok());
  EXPECT_FALSE((*c)->FillBlob("b", "data", 2, 10, never).ok());  // no such row
  Status st = (*c)->FillBlob("b", "data", 1, 10,
                             [](uint64_t, char*, size_t) -> Status { return Error{"disk gone"}; });
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().message, "disk gone");
}

}  // namespace
}  // namespace hearth::store

#include "store/control_schema.h"

namespace hearth::store {
namespace {

TEST_F(StoreTest, ControlMigration3KeepsBlobsAndPutsTheirBytesLast) {
  std::vector<Migration> upto2(ControlMigrations().begin(), ControlMigrations().begin() + 2);
  {
    auto s = OpenStore(upto2, {});
    ASSERT_TRUE(
        s->Write([](Connection& c) {
           return c.Exec(
               "INSERT INTO blobs(hash, size, data, created_at) VALUES ('h1', 3, x'616263', 42)");
         }).ok());
  }
  Store::Options o;
  o.path = path_;
  o.readers = 1;
  o.migrations = ControlMigrations();
  o.statements = ControlStatements();
  o.connection_setup = ControlConnectionSetup();
  auto opened = Store::Open(std::move(o));
  ASSERT_TRUE(opened.ok()) << opened.error().message;
  auto& s = *opened;
  EXPECT_GE(s->schema_version(), 3);
  auto& rd = s->Reader(0);
  auto q = rd.Prepare("SELECT size, created_at, data FROM blobs WHERE hash = 'h1'");
  ASSERT_TRUE(q.ok());
  Status st = OkStatus();
  ASSERT_TRUE(q->Step(&st));
  EXPECT_EQ(q->Int(0), 3);
  EXPECT_EQ(q->Int(1), 42);
  EXPECT_EQ(q->Blob(2), "abc");
  auto cols = rd.Prepare("SELECT name FROM pragma_table_info('blobs') ORDER BY cid DESC LIMIT 1");
  ASSERT_TRUE(cols.ok());
  ASSERT_TRUE(cols->Step(&st));
  EXPECT_EQ(cols->Text(0), "data");
}

}  // namespace
}  // namespace hearth::store
