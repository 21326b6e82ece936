// Observers of committed changes (store/observers.h): what they are handed
// for each op, once per entry, only for what committed, the same on a copy
// that applies the entries, and, without a stream, recorded only for the
// tables they want.
#include "store/observers.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

#include "store/capture.h"
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
      CREATE TABLE t (id TEXT PRIMARY KEY NOT NULL, a TEXT, b INTEGER, c BLOB);
      CREATE TABLE u (k INTEGER PRIMARY KEY, v TEXT);
      CREATE TABLE s (id INTEGER PRIMARY KEY AUTOINCREMENT, v TEXT);
    )sql"},
};

std::string Show(const Value& v) {
  switch (v.type) {
    case Value::Type::kUnset:
      return "-";
    case Value::Type::kNull:
      return "null";
    case Value::Type::kInt:
      return std::to_string(v.i);
    case Value::Type::kReal:
      return std::to_string(v.real);
    case Value::Type::kText:
      return "'" + v.bytes + "'";
    case Value::Type::kBlob:
      return "x" + std::to_string(v.bytes.size());
  }
  return "?";
}

std::string ShowRow(const std::vector<Value>& row) {
  std::string out = "(";
  for (size_t i = 0; i < row.size(); ++i) out += (i ? "," : "") + Show(row[i]);
  return out + ")";
}

// Every call an observer got, as text: "begin", "insert t new(...)", ...,
// with the whole new row read back for each update, and "end".
struct Recorder {
  std::mutex mu;
  std::vector<std::string> calls;
  std::vector<std::string> Take() {
    std::lock_guard<std::mutex> lock(mu);
    auto out = std::move(calls);
    calls.clear();
    return out;
  }
  void Add(std::string s) {
    std::lock_guard<std::mutex> lock(mu);
    calls.push_back(std::move(s));
  }
  Observers::Observer Make(std::function<bool(std::string_view)> wants) {
    Observers::Observer o;
    o.wants = std::move(wants);
    o.begin = [this](Connection&) { Add("begin"); };
    o.end = [this](Connection&) { Add("end"); };
    o.row = [this](Connection& c, const RowChange& ch) {
      std::string s = ch.op == RowOp::kInsert   ? "insert "
                      : ch.op == RowOp::kUpdate ? "update "
                                                : "delete ";
      s += std::string(ch.table);
      if (!ch.old_row.empty()) s += " old" + ShowRow(ch.old_row);
      if (!ch.new_row.empty()) s += " new" + ShowRow(ch.new_row);
      if (ch.op == RowOp::kUpdate) {
        auto whole = ch.NewRow(c);
        s += whole.ok() ? " whole" + ShowRow(*whole) : " error " + whole.error().message;
        s += " a=" + Show(ch.New("a"));
      }
      Add(std::move(s));
    };
    return o;
  }
};

class ObserversTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/hearth-observers-XXXXXX";
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
    o.name = "hearth.db";
    if (stream) o.stream = stream_;
    auto s = Store::Open(std::move(o));
    EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().message);
    return s.ok() ? std::move(s).value() : nullptr;
  }
  static Status Exec(Store& s, const std::string& sql) {
    return s.Write([sql](Connection& c) { return c.Exec(sql); });
  }
  std::string dir_;
  Sequencer sequencer_{1, 0};
  ListSink sink_;
  std::shared_ptr<StreamContext> stream_;
};

TEST_F(ObserversTest, ImagesPerOpAndTheWholeRowOfAnUpdate) {
  auto s = Open("a.db", true);
  Recorder r;
  s->observers().Add(r.Make([](std::string_view t) { return t == "t"; }));
  ASSERT_TRUE(Exec(*s, "INSERT INTO t VALUES ('r1', 'x', 1, x'0102')").ok());
  EXPECT_EQ(r.Take(), (std::vector<std::string>{"begin", "insert t new('r1','x',1,x2)", "end"}));
  ASSERT_TRUE(Exec(*s, "UPDATE t SET a = 'y' WHERE id = 'r1'").ok());
  // The changeset holds the key and the changed column only; NewRow reads the rest.
  EXPECT_EQ(
      r.Take(),
      (std::vector<std::string>{
          "begin", "update t old('r1','x',-,-) new(-,'y',-,-) whole('r1','y',1,x2) a='y'", "end"}));
  ASSERT_TRUE(Exec(*s, "DELETE FROM t WHERE id = 'r1'").ok());
  EXPECT_EQ(r.Take(), (std::vector<std::string>{"begin", "delete t old('r1','y',1,x2)", "end"}));
  // A table it does not want: no call at all (no begin/end either).
  ASSERT_TRUE(Exec(*s, "INSERT INTO u VALUES (1, 'z')").ok());
  EXPECT_TRUE(r.Take().empty());
}

TEST_F(ObserversTest, OneBeginAndEndPerEntryAndNothingForARollback) {
  auto s = Open("a.db", true);
  Recorder r;
  s->observers().Add(r.Make([](std::string_view t) { return t == "t" || t == "u"; }));
  ASSERT_TRUE(Exec(*s,
                   "INSERT INTO t VALUES ('r1', 'x', 1, NULL); INSERT INTO t VALUES ('r2', 'y', 2, "
                   "NULL); INSERT INTO u VALUES (5, 'five')")
                  .ok());
  auto calls = r.Take();
  ASSERT_EQ(calls.size(), 5u);
  EXPECT_EQ(calls.front(), "begin");
  EXPECT_EQ(calls.back(), "end");
  // Insert then update of one row in one batch: one insert of the final row;
  // insert then delete: nothing.
  ASSERT_TRUE(Exec(*s,
                   "INSERT INTO t VALUES ('r3', 'a', 3, NULL); UPDATE t SET a = 'b' WHERE id = "
                   "'r3'; INSERT INTO t VALUES ('r4', 'c', 4, NULL); DELETE FROM t WHERE id = 'r4'")
                  .ok());
  EXPECT_EQ(r.Take(), (std::vector<std::string>{"begin", "insert t new('r3','b',3,null)", "end"}));
  // A write that fails is rolled back: nothing to observe.
  Status failed = s->Write([](Connection& c) -> Status {
    if (auto st = c.Exec("INSERT INTO t VALUES ('r9', 'no', 9, NULL)"); !st.ok()) return st;
    return Error{"changed my mind"};
  });
  EXPECT_FALSE(failed.ok());
  EXPECT_TRUE(r.Take().empty());
}

TEST_F(ObserversTest, ACopyApplyingTheEntriesGetsTheSameCalls) {
  auto a = Open("a.db", true);
  auto b = Open("b.db", false);
  Recorder ra, rb;
  auto wants = [](std::string_view t) { return t == "t" || t == "u"; };
  a->observers().Add(ra.Make(wants));
  b->observers().Add(rb.Make(wants));
  ASSERT_TRUE(
      Exec(*a, "INSERT INTO t VALUES ('r1', 'x', 1, NULL); INSERT INTO u VALUES (1, 'o')").ok());
  ASSERT_TRUE(Exec(*a, "UPDATE t SET b = 7 WHERE id = 'r1'").ok());
  ASSERT_TRUE(Exec(*a, "DELETE FROM u WHERE k = 1").ok());
  auto origin = ra.Take();
  ASSERT_EQ(sink_.entries.size(), 3u);
  for (const std::string& e : sink_.entries)
    ASSERT_TRUE(b->Apply(std::make_shared<const std::string>(e)).ok());
  EXPECT_EQ(rb.Take(), origin);
  // Applying again changes nothing, and has no effect.
  for (const std::string& e : sink_.entries)
    ASSERT_TRUE(b->Apply(std::make_shared<const std::string>(e)).ok());
  EXPECT_TRUE(rb.Take().empty());
}

TEST_F(ObserversTest, WithoutAStreamOnlyTheWantedTablesAreRecorded) {
  auto s = Open("a.db", false);
  Recorder r;
  std::atomic<bool> want_u{false};
  s->observers().Add(r.Make([&](std::string_view t) { return t == "t" || (t == "u" && want_u); }));
  // u is not wanted while the batch writes it; by the time the batch is
  // dispatched it is: its rows were never recorded, so there are none.
  ASSERT_TRUE(s->Write([&](Connection& c) -> Status {
                 if (auto st = c.Exec("INSERT INTO u VALUES (1, 'o')"); !st.ok()) return st;
                 if (auto st = c.Exec("INSERT INTO t VALUES ('r1', 'x', 1, NULL)"); !st.ok())
                   return st;
                 want_u = true;
                 return OkStatus();
               }).ok());
  EXPECT_EQ(r.Take(), (std::vector<std::string>{"begin", "insert t new('r1','x',1,null)", "end"}));
  // Wanted now: recorded.
  ASSERT_TRUE(Exec(*s, "INSERT INTO u VALUES (2, 'p')").ok());
  EXPECT_EQ(r.Take(), (std::vector<std::string>{"begin", "insert u new(2,'p')", "end"}));
  EXPECT_EQ(s->last_index(), 0u);  // effects only: no entry, no index
}

TEST_F(ObserversTest, OpObserversGetTheOpsOfTheirKind) {
  auto s = Open("a.db", true);
  std::vector<std::string> seen;
  s->observers().OnOp(OpKind::kSequence, [&](Connection&, std::string_view payload) {
    auto seq = DecodeSequence(payload);
    seen.push_back(seq.ok() ? std::string(seq->table) + "=" + std::to_string(seq->seq) : "bad");
  });
  ASSERT_TRUE(Exec(*s, "INSERT INTO u VALUES (1, 'o')").ok());
  EXPECT_TRUE(seen.empty());  // no sequence op in this entry
  ASSERT_TRUE(Exec(*s, "INSERT INTO s (v) VALUES ('a'); INSERT INTO s (v) VALUES ('b')").ok());
  EXPECT_EQ(seen, (std::vector<std::string>{"s=2"}));
}

}  // namespace
}  // namespace hearth::store
