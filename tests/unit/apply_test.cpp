// Entries captured on one database, applied to a copy of where it started,
// give the same database (store/digest.h): the change stream's core promise.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <future>
#include <mutex>

#include "store/capture.h"
#include "store/digest.h"
#include "store/entry.h"
#include "store/store.h"

namespace hearth::store {
namespace {

class ListSink : public EntrySink {
 public:
  Result<uint64_t> Append(std::string_view entry) override {
    std::lock_guard<std::mutex> lock(mu_);
    entries.emplace_back(entry);
    return uint64_t{0};
  }
  void TruncateTo(uint64_t) override {
    std::lock_guard<std::mutex> lock(mu_);
    entries.pop_back();
  }
  void Break(const std::string& why) override { FAIL() << "stream broke: " << why; }
  std::vector<std::string> entries;

 private:
  std::mutex mu_;
};

const std::vector<Migration> kMigrations = {
    {1, R"sql(
      CREATE TABLE sites (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
      CREATE TABLE hosts (host TEXT PRIMARY KEY NOT NULL,
                          site INTEGER NOT NULL REFERENCES sites(id) ON DELETE CASCADE);
      CREATE TABLE versions (id INTEGER PRIMARY KEY,
                             site INTEGER NOT NULL REFERENCES sites(id) ON DELETE CASCADE);
      CREATE TABLE files (version INTEGER NOT NULL REFERENCES versions(id) ON DELETE CASCADE,
                          path TEXT NOT NULL, PRIMARY KEY (version, path)) WITHOUT ROWID;
      CREATE TABLE kv (k TEXT PRIMARY KEY NOT NULL, v BLOB) WITHOUT ROWID;
    )sql"},
};

class ApplyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/hearth-apply-XXXXXX";
    dir_ = mkdtemp(tmpl);
    stream_ = std::make_shared<StreamContext>();
    stream_->sequencer = &sequencer_;
    stream_->sink = &sink_;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::unique_ptr<Store> Open(const std::string& file, bool stream) {
    Store::Options o;
    o.path = dir_ + "/" + file;
    o.migrations = kMigrations;
    o.name = "apps/shop.db";
    if (stream) o.stream = stream_;
    auto s = Store::Open(std::move(o));
    EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().message);
    return s.ok() ? std::move(s).value() : nullptr;
  }
  // The origin, and a copy of it as it was before any captured write.
  void MakePair() {
    origin_ = Open("origin.db", true);
    origin_.reset();  // closed: its file is whole (WAL checkpointed)
    std::filesystem::copy_file(dir_ + "/origin.db", dir_ + "/copy.db");
    origin_ = Open("origin.db", true);
    copy_ = Open("copy.db", false);
    ASSERT_TRUE(origin_ && copy_);
  }
  static std::string Why(const Status& s) { return s.ok() ? "" : s.error().message; }
  Status Write(std::string sql) {
    return origin_->Write([sql](Connection& c) { return c.Exec(sql); });
  }
  Status Ddl(std::string sql) {
    std::promise<Status> done;
    origin_->SubmitWrite([sql](Connection& c) { return c.Ddl(sql); },
                         [&](const Status& s) { done.set_value(s); }, WriteOptions{.alone = true});
    return done.get_future().get();
  }
  Status ApplyAll(Store& to) {
    for (const std::string& e : sink_.entries)
      if (Status s = to.Apply(std::make_shared<const std::string>(e)); !s.ok()) return s;
    return OkStatus();
  }
  std::string DigestOf(Store& s) {
    auto d = Digest(s.Reader(0));
    EXPECT_TRUE(d.ok()) << d.error().message;
    return d.ok() ? *d : "";
  }

  std::string dir_;
  Sequencer sequencer_{1, 0};
  ListSink sink_;
  std::shared_ptr<StreamContext> stream_;
  std::unique_ptr<Store> origin_, copy_;
};

TEST_F(ApplyTest, ACopyThatAppliesTheEntriesIsTheSameDatabase) {
  MakePair();
  ASSERT_TRUE(Write("INSERT INTO sites VALUES (1, 'a'), (2, 'b')").ok());
  ASSERT_TRUE(
      Write("INSERT INTO hosts VALUES ('a.test', 1), ('www.a.test', 1), ('b.test', 2)").ok());
  ASSERT_TRUE(Write("INSERT INTO versions VALUES (10, 1), (11, 1), (20, 2)").ok());
  ASSERT_TRUE(
      Write("INSERT INTO files VALUES (10, 'index.html'), (10, 'a.css'), (11, 'x'), (20, 'y')")
          .ok());
  ASSERT_TRUE(Write("INSERT INTO kv VALUES ('k1', x'00ff'), ('k2', NULL)").ok());
  ASSERT_TRUE(
      Write("UPDATE sites SET name = 'a2' WHERE id = 1; UPDATE kv SET v = 'text' WHERE k = 'k2'")
          .ok());
  // A cascading delete: the hosts, versions and files of site 1 go with it.
  ASSERT_TRUE(Write("DELETE FROM sites WHERE id = 1").ok());
  // Schema changes, and rows written in the new shape.
  {
    Status st = Ddl("ALTER TABLE sites ADD COLUMN note TEXT NOT NULL DEFAULT ''");
    ASSERT_TRUE(st.ok()) << Why(st);
  }
  ASSERT_TRUE(
      Write("UPDATE sites SET note = 'n' WHERE id = 2; INSERT INTO sites VALUES (3, 'c', 'x')")
          .ok());
  {
    Status st = Ddl("CREATE TABLE posts (id TEXT PRIMARY KEY NOT NULL, title TEXT)");
    ASSERT_TRUE(st.ok()) << Why(st);
  }
  ASSERT_TRUE(Write("INSERT INTO posts VALUES ('p1', 'hello')").ok());
  {
    Status st = Ddl("DROP TABLE posts");
    ASSERT_TRUE(st.ok()) << Why(st);
  }
  ASSERT_EQ(sink_.entries.size(), 12u);

  EXPECT_NE(DigestOf(*origin_), DigestOf(*copy_));
  Status applied = ApplyAll(*copy_);
  ASSERT_TRUE(applied.ok()) << applied.error().message;
  EXPECT_EQ(DigestOf(*origin_), DigestOf(*copy_));
  EXPECT_EQ(copy_->last_index(), 12u);

  // Applying everything again changes nothing.
  applied = ApplyAll(*copy_);
  ASSERT_TRUE(applied.ok()) << applied.error().message;
  EXPECT_EQ(DigestOf(*origin_), DigestOf(*copy_));
}

// A copy whose row differs from what the entry found is divergence: nothing
// of the entry is applied, and the message names the entry and the table.
TEST_F(ApplyTest, ADifferentRowIsDivergence) {
  MakePair();
  ASSERT_TRUE(Write("INSERT INTO sites VALUES (1, 'a')").ok());
  ASSERT_TRUE(
      Write("UPDATE sites SET name = 'b' WHERE id = 1; INSERT INTO kv VALUES ('z', 1)").ok());
  {
    Status st = copy_->Apply(std::make_shared<const std::string>(sink_.entries[0]));
    ASSERT_TRUE(st.ok()) << Why(st);
  }
  // The copy is changed behind the stream's back.
  ASSERT_TRUE(
      copy_->Write([](Connection& c) { return c.Exec("UPDATE sites SET name = 'zz'"); }).ok());
  const std::string before = DigestOf(*copy_);
  Status s = copy_->Apply(std::make_shared<const std::string>(sink_.entries[1]));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(
      s.error().message,
      "divergence at entry 2 (apps/shop.db): table sites: the row is not as the entry found it "
      "(DATA)");
  EXPECT_EQ(DigestOf(*copy_), before);  // kv's insert was not applied either
  EXPECT_EQ(copy_->last_index(), 1u);
}

TEST_F(ApplyTest, AMissingRowOrTableIsDivergence) {
  MakePair();
  ASSERT_TRUE(Write("INSERT INTO sites VALUES (1, 'a')").ok());
  ASSERT_TRUE(Write("DELETE FROM sites").ok());
  {
    Status st = Ddl("CREATE TABLE posts (id TEXT PRIMARY KEY NOT NULL)");
    ASSERT_TRUE(st.ok()) << Why(st);
  }
  ASSERT_TRUE(Write("INSERT INTO posts VALUES ('p')").ok());
  // Entry 2 deletes a row the copy never got (entry 1 skipped).
  Status s = copy_->Apply(std::make_shared<const std::string>(sink_.entries[1]));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message,
            "divergence at entry 2 (apps/shop.db): table sites: the row is missing (NOTFOUND)");
  // Entry 4 writes to a table the copy does not have (entry 3 skipped):
  // SQLite would skip it silently; the stream calls it divergence.
  s = copy_->Apply(std::make_shared<const std::string>(sink_.entries[3]));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message,
            "divergence at entry 4 (apps/shop.db): table posts does not exist here");
}

// A changeset whose bytes were altered and resealed (CRCs recomputed, so the
// codec accepts it) fails against the copy, never silently.
TEST_F(ApplyTest, ATamperedChangesetIsDivergence) {
  MakePair();
  ASSERT_TRUE(Write("INSERT INTO sites VALUES (1, 'a')").ok());
  ASSERT_TRUE(Write("UPDATE sites SET name = 'b' WHERE id = 1").ok());
  {
    Status st = copy_->Apply(std::make_shared<const std::string>(sink_.entries[0]));
    ASSERT_TRUE(st.ok()) << Why(st);
  }
  auto e = DecodeEntry(sink_.entries[1]);
  ASSERT_TRUE(e.ok());
  std::string changeset(e->ops[0].payload);
  size_t old_value = changeset.find('a');  // the old name the update expects
  ASSERT_NE(old_value, std::string::npos);
  changeset[old_value] = 'q';
  EntryView forged = *e;
  forged.ops = {{OpKind::kChangeset, changeset}};
  auto bytes = EncodeEntry(forged);
  ASSERT_TRUE(bytes.ok());
  Status s = copy_->Apply(std::make_shared<const std::string>(*bytes));
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("divergence at entry 2"), std::string::npos)
      << s.error().message;
}

TEST_F(ApplyTest, AnEntryForAnotherDatabaseIsRefused) {
  MakePair();
  EntryView e;
  e.index = 1;
  e.database = "hearth.db";
  e.ops = {{OpKind::kDdl, "CREATE TABLE x (a INTEGER PRIMARY KEY)"}};
  auto bytes = EncodeEntry(e);
  ASSERT_TRUE(bytes.ok());
  Status s = copy_->Apply(std::make_shared<const std::string>(*bytes));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message, "entry 1 is for hearth.db, not apps/shop.db");
  Status garbage = copy_->Apply(std::make_shared<const std::string>("not an entry"));
  EXPECT_FALSE(garbage.ok());
}

// Foreign keys are back on after an apply: the copy's own rules still hold.
TEST_F(ApplyTest, ForeignKeysAreOnAgainAfterAnApply) {
  MakePair();
  ASSERT_TRUE(Write("INSERT INTO sites VALUES (1, 'a')").ok());
  {
    Status st = ApplyAll(*copy_);
    ASSERT_TRUE(st.ok()) << Why(st);
  }
  Status orphan =
      copy_->Write([](Connection& c) { return c.Exec("INSERT INTO hosts VALUES ('x.test', 99)"); });
  EXPECT_FALSE(orphan.ok());
}

// Rows stored before a migration added a NOT NULL column with a default keep
// short records; SQLite 3.40's session reports the column's old value in
// them as NULL. Updating that column, or deleting the row, still applies on
// a copy (and the copy ends up the same).
TEST_F(ApplyTest, RowsStoredBeforeAnAddedColumnStillApply) {
  MakePair();
  ASSERT_TRUE(Write("INSERT INTO sites VALUES (1, 'a'), (2, 'b'), (4, 'd')").ok());
  origin_.reset();
  Store::Options o;
  o.path = dir_ + "/origin.db";
  o.migrations = kMigrations;
  o.migrations.push_back({2, "ALTER TABLE sites ADD COLUMN note TEXT NOT NULL DEFAULT 'd';"});
  o.name = "apps/shop.db";
  o.stream = stream_;
  auto reopened = Store::Open(std::move(o));
  ASSERT_TRUE(reopened.ok()) << reopened.error().message;
  origin_ = std::move(reopened).value();
  ASSERT_TRUE(Write("UPDATE sites SET note = 'x' WHERE id = 1").ok());
  ASSERT_TRUE(Write("DELETE FROM sites WHERE id = 2").ok());
  ASSERT_EQ(sink_.entries.size(), 4u);  // insert, migration, update, delete
  Status applied = ApplyAll(*copy_);
  ASSERT_TRUE(applied.ok()) << Why(applied);
  EXPECT_EQ(DigestOf(*origin_), DigestOf(*copy_));
  // A real difference in such a row is still divergence.
  ASSERT_TRUE(Write("INSERT INTO sites (id, name) VALUES (3, 'c')").ok());
  ASSERT_TRUE(ApplyAll(*copy_).ok());
  ASSERT_TRUE(copy_
                  ->Write([](Connection& c) {
                    return c.Exec("UPDATE sites SET note = 'other' WHERE id = 3");
                  })
                  .ok());
  ASSERT_TRUE(Write("DELETE FROM sites WHERE id = 3").ok());
  Status s = copy_->Apply(std::make_shared<const std::string>(sink_.entries.back()));
  ASSERT_FALSE(s.ok());
  EXPECT_NE(Why(s).find("table sites: the row is not as the entry found it (DATA)"),
            std::string::npos)
      << Why(s);
}

// An AUTOINCREMENT row inserted and deleted in one batch leaves no row to
// capture, but its number is used up: the copy must not hand it out either.
TEST_F(ApplyTest, AutoincrementSequencesFollow) {
  MakePair();
  // A batch before the schema change: the writer has already looked for
  // sqlite_sequence (none yet) and must look again after the DDL.
  ASSERT_TRUE(Write("INSERT INTO sites (name) VALUES ('first')").ok());
  ASSERT_TRUE(
      Ddl("CREATE TABLE users (id INTEGER PRIMARY KEY AUTOINCREMENT, email TEXT NOT NULL)").ok());
  ASSERT_TRUE(Write("INSERT INTO users (email) VALUES ('a')").ok());
  ASSERT_TRUE(
      Write("INSERT INTO users (email) VALUES ('b'); DELETE FROM users WHERE email = 'b'").ok());
  ASSERT_TRUE(
      Write("INSERT INTO users (email) VALUES ('c'), ('d'); DELETE FROM users WHERE email = 'd'")
          .ok());
  Status applied = ApplyAll(*copy_);
  ASSERT_TRUE(applied.ok()) << Why(applied);
  EXPECT_EQ(DigestOf(*origin_), DigestOf(*copy_));  // sqlite_sequence is part of it
  auto next = [](Store& s) {
    auto q = s.Reader(0).Prepare("SELECT seq FROM sqlite_sequence WHERE name = 'users'");
    Status st = OkStatus();
    return q->Step(&st) ? q->Int(0) : -1;
  };
  EXPECT_EQ(next(*copy_), 4);
  EXPECT_EQ(next(*origin_), 4);
}

// Tables SQLite would skip silently (another primary key, a view of the same
// name) and rows whose parent is missing are divergence, never a quiet skip.
TEST_F(ApplyTest, IncompatibleTablesAndMissingParentsAreDivergence) {
  MakePair();
  ASSERT_TRUE(Ddl("CREATE TABLE pk1 (a TEXT PRIMARY KEY NOT NULL, b TEXT NOT NULL)").ok());
  ASSERT_TRUE(Ddl("CREATE TABLE v1 (a TEXT PRIMARY KEY NOT NULL)").ok());
  ASSERT_TRUE(Write("INSERT INTO pk1 VALUES ('x', 'y')").ok());       // entry 3
  ASSERT_TRUE(Write("INSERT INTO v1 VALUES ('x')").ok());             // entry 4
  ASSERT_TRUE(Write("INSERT INTO sites VALUES (7, 's')").ok());       // entry 5
  ASSERT_TRUE(Write("INSERT INTO hosts VALUES ('h.test', 7)").ok());  // entry 6
  // The copy made those tables its own way (its own schema, not the entries').
  auto bare = Connection::Open(dir_ + "/copy.db", Connection::Mode::kReadWrite);
  ASSERT_TRUE(bare.ok());
  ASSERT_TRUE((*bare)
                  ->Exec("CREATE TABLE pk1 (a TEXT NOT NULL, b TEXT PRIMARY KEY NOT NULL);"
                         "CREATE VIEW v1 AS SELECT 'x' AS a")
                  .ok());
  auto apply = [&](size_t i) {
    return Why(copy_->Apply(std::make_shared<const std::string>(sink_.entries[i])));
  };
  EXPECT_EQ(apply(2),
            "divergence at entry 3 (apps/shop.db): table pk1 has another primary key here");
  EXPECT_EQ(apply(3), "divergence at entry 4 (apps/shop.db): table v1 does not exist here");
  // The host's site (entry 5) never came: its insert would break the copy's
  // foreign key, which is off while applying.
  EXPECT_EQ(apply(5),
            "divergence at entry 6 (apps/shop.db): table hosts: a row's parent is missing here "
            "(FOREIGN KEY)");
  EXPECT_EQ(apply(4), "");
  EXPECT_EQ(apply(5), "");
}

// Schema SQL cannot end the writer's transaction part-way.
TEST_F(ApplyTest, SchemaSqlCannotCommitOrSplitTheTransaction) {
  MakePair();
  Status s = Ddl("CREATE TABLE z (a INTEGER PRIMARY KEY); COMMIT");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(Why(s).find("not authorized"), std::string::npos) << Why(s);
  EntryView e;
  e.index = 1;
  e.database = "apps/shop.db";
  e.ops = {{OpKind::kDdl, "SAVEPOINT x; CREATE TABLE z (a INTEGER PRIMARY KEY)"}};
  auto bytes = EncodeEntry(e);
  ASSERT_TRUE(bytes.ok());
  Status applied = copy_->Apply(std::make_shared<const std::string>(*bytes));
  ASSERT_FALSE(applied.ok());
  EXPECT_NE(Why(applied).find("not authorized"), std::string::npos) << Why(applied);
  EXPECT_EQ(copy_->last_index(), 0u);
}

TEST(Digest, SeesRowsAndSchemaButNotLayout) {
  char tmpl[] = "/tmp/hearth-digest-XXXXXX";
  std::string dir = mkdtemp(tmpl);
  auto a = Connection::Open(dir + "/a.db", Connection::Mode::kReadWrite);
  auto b = Connection::Open(dir + "/b.db", Connection::Mode::kReadWrite);
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_TRUE((*a)->Exec("CREATE TABLE t (id TEXT PRIMARY KEY NOT NULL, v);"
                         "INSERT INTO t VALUES ('x', 1), ('y', 2.5), ('z', x'01')")
                  .ok());
  // Same rows, inserted in another order (other hidden rowids).
  ASSERT_TRUE((*b)->Exec("CREATE TABLE t (id TEXT PRIMARY KEY NOT NULL, v);"
                         "INSERT INTO t VALUES ('z', x'01'), ('x', 1), ('y', 2.5)")
                  .ok());
  EXPECT_EQ(*Digest(**a), *Digest(**b));
  ASSERT_TRUE((*b)->Exec("UPDATE t SET v = '1' WHERE id = 'x'").ok());  // text, not integer
  EXPECT_NE(*Digest(**a), *Digest(**b));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace hearth::store
