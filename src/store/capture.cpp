// The session extension's declarations are behind two defines
// (SQLITE_ENABLE_SESSION, SQLITE_ENABLE_PREUPDATE_HOOK), set for this library
// in CMakeLists.txt, where a configure check also makes sure the system
// SQLite has the extension compiled in.
#include "store/capture.h"

#include <sqlite3.h>

#include <algorithm>
#include <cctype>

#include "store/observers.h"
#include "store/sqlite.h"

namespace hearth::store {

std::string CheckCapturable(Connection& c, const std::string& table) {
  auto def =
      c.Prepare("SELECT type, wr FROM pragma_table_list WHERE schema = 'main' AND name = ?1");
  if (!def.ok()) return def.error().message;
  def->Bind(1, table);
  Status s = OkStatus();
  if (!def->Step(&s)) return s.ok() ? "table " + table + " does not exist" : s.error().message;
  if (def->Text(0) == "virtual")
    return "table " + table + " is virtual (the change stream cannot carry it)";
  const bool without_rowid = def->Int(1) != 0;
  def->Reset();

  auto triggers =
      c.Prepare("SELECT name FROM sqlite_schema WHERE type = 'trigger' AND tbl_name = ?1");
  if (!triggers.ok()) return triggers.error().message;
  triggers->Bind(1, table);
  if (triggers->Step(&s))
    return "table " + table + " has trigger " + std::string(triggers->Text(0)) +
           " (its writes would be applied twice on a copy)";
  triggers->Reset();

  auto cols =
      c.Prepare("SELECT name, type, \"notnull\", pk FROM pragma_table_xinfo(?1) WHERE pk > 0");
  if (!cols.ok()) return cols.error().message;
  cols->Bind(1, table);
  int pk_columns = 0;
  std::string nullable;
  std::string first_type;
  while (cols->Step(&s)) {
    ++pk_columns;
    std::string type(cols->Text(1));
    std::transform(type.begin(), type.end(), type.begin(),
                   [](unsigned char ch) { return std::toupper(ch); });
    if (pk_columns == 1) first_type = type;
    if (cols->Int(2) == 0 && nullable.empty()) nullable = std::string(cols->Text(0));
  }
  if (!s.ok()) return s.error().message;
  if (pk_columns == 0) return "table " + table + " has no primary key";
  // The rowid alias (never NULL) is a rowid table's single INTEGER PRIMARY
  // KEY with no index of its own: "INTEGER PRIMARY KEY DESC" gets an index
  // and is an ordinary, nullable key.
  bool rowid_alias = false;
  if (pk_columns == 1 && first_type == "INTEGER" && !without_rowid) {
    auto pk_index = c.Prepare("SELECT 1 FROM pragma_index_list(?1) WHERE origin = 'pk'");
    if (!pk_index.ok()) return pk_index.error().message;
    pk_index->Bind(1, table);
    rowid_alias = !pk_index->Step(&s);
    if (!s.ok()) return s.error().message;
  }
  if (!nullable.empty() && !without_rowid && !rowid_alias)
    return "table " + table + "'s primary key column " + nullable +
           " may be NULL (declare it NOT NULL)";
  return "";
}

int BatchCapture::Filter(void* self, const char* table) {
  std::string_view t(table);
  if (t == "_hearth_stream") return 0;  // the stream's own bookkeeping
  auto* c = static_cast<BatchCapture*>(self);
  if (c->skip_)
    for (const std::string& s : *c->skip_)
      if (t == s) return 0;
  if (c->only_ && !c->only_->Wants(t)) return 0;
  return 1;
}

std::unique_ptr<BatchCapture> BatchCapture::Start(sqlite3* db, const std::vector<std::string>* skip,
                                                  const Observers* only) {
  std::unique_ptr<BatchCapture> c(new BatchCapture(db, skip, only));
  c->Open();
  return c;
}

void BatchCapture::Fail(const std::string& why) {
  if (failed_.empty()) failed_ = "change capture: " + why;
  if (session_) sqlite3session_delete(session_);
  session_ = nullptr;
}

void BatchCapture::Open() {
  if (!failed_.empty()) return;
  if (session_) sqlite3session_delete(session_);
  session_ = nullptr;
  int rc = sqlite3session_create(db_, "main", &session_);
  if (rc != SQLITE_OK) return Fail(sqlite3_errstr(rc));
  sqlite3session_table_filter(session_, &BatchCapture::Filter, this);
  rc = sqlite3session_attach(session_, nullptr);  // every table the filter lets through
  if (rc != SQLITE_OK) return Fail(sqlite3_errstr(rc));
}

BatchCapture::~BatchCapture() {
  if (session_) sqlite3session_delete(session_);
}

void BatchCapture::Pause() {
  TakeChangeset();
  if (session_) sqlite3session_delete(session_);
  session_ = nullptr;
  paused_ = true;
  paused_at_ = ops_.size();
}

void BatchCapture::Resume() {
  Open();
}

void BatchCapture::TakeChangeset() {
  if (!session_) return;
  int n = 0;
  void* p = nullptr;
  int rc = sqlite3session_changeset(session_, &n, &p);
  if (rc != SQLITE_OK) {
    sqlite3_free(p);
    return Fail(sqlite3_errstr(rc));
  }
  if (n > 0) ops_.push_back({OpKind::kChangeset, std::string(static_cast<const char*>(p), n)});
  sqlite3_free(p);
}

void BatchCapture::RollbackTo(size_t mark) {
  bool paused_since = paused_ && paused_at_ >= mark;
  ops_.resize(std::min(mark, ops_.size()));
  if (!paused_since) return;
  paused_ = false;
  Open();
}

Result<std::vector<CapturedOp>> BatchCapture::Finish() {
  TakeChangeset();
  if (!failed_.empty()) return Error{failed_};
  return std::move(ops_);
}

}  // namespace hearth::store
