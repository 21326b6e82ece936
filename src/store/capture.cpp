// The session extension's declarations are behind these two defines (set for
// this library in CMakeLists.txt, where a configure check also makes sure the
// system SQLite has the extension compiled in).
#include "store/capture.h"

#include <sqlite3.h>

#include <algorithm>
#include <cctype>

#include "store/sqlite.h"

namespace hearth::store {
namespace {

int FilterTable(void*, const char* table) {
  return IsCapturedTable(table) ? 1 : 0;
}

}  // namespace

bool IsCapturedTable(std::string_view table) {
  return table != "blobs" && table != "blob_variants" && table != "_hearth_stream";
}

std::string CheckCapturable(Connection& c, const std::string& table) {
  auto def = c.Prepare("SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = ?1");
  if (!def.ok()) return def.error().message;
  def->Bind(1, table);
  Status s = OkStatus();
  if (!def->Step(&s)) return s.ok() ? "table " + table + " does not exist" : s.error().message;
  std::string sql(def->Text(0));
  std::transform(sql.begin(), sql.end(), sql.begin(), [](unsigned char ch) { return std::toupper(ch); });
  def->Reset();
  if (sql.rfind("CREATE VIRTUAL TABLE", 0) == 0)
    return "table " + table + " is virtual (the change stream cannot carry it)";
  const bool without_rowid = sql.find("WITHOUT ROWID") != std::string::npos;

  auto triggers = c.Prepare("SELECT name FROM sqlite_schema WHERE type = 'trigger' AND tbl_name = ?1");
  if (!triggers.ok()) return triggers.error().message;
  triggers->Bind(1, table);
  if (triggers->Step(&s))
    return "table " + table + " has trigger " + std::string(triggers->Text(0)) +
           " (its writes would be applied twice on a copy)";
  triggers->Reset();

  auto cols = c.Prepare("SELECT name, type, \"notnull\", pk FROM pragma_table_xinfo(?1) WHERE pk > 0");
  if (!cols.ok()) return cols.error().message;
  cols->Bind(1, table);
  int pk_columns = 0;
  std::string nullable;
  std::string first_type;
  while (cols->Step(&s)) {
    ++pk_columns;
    std::string type(cols->Text(1));
    std::transform(type.begin(), type.end(), type.begin(), [](unsigned char ch) { return std::toupper(ch); });
    if (pk_columns == 1) first_type = type;
    if (cols->Int(2) == 0 && nullable.empty()) nullable = std::string(cols->Text(0));
  }
  if (!s.ok()) return s.error().message;
  if (pk_columns == 0) return "table " + table + " has no primary key";
  const bool rowid_alias = pk_columns == 1 && first_type == "INTEGER" && !without_rowid;
  if (!nullable.empty() && !without_rowid && !rowid_alias)
    return "table " + table + "'s primary key column " + nullable +
           " may be NULL (declare it NOT NULL)";
  return "";
}

Result<std::unique_ptr<BatchCapture>> BatchCapture::Start(sqlite3* db) {
  std::unique_ptr<BatchCapture> c(new BatchCapture(db));
  if (auto s = c->Open(); !s.ok()) return s.error();
  return c;
}

Status BatchCapture::Open() {
  if (session_) sqlite3session_delete(session_);
  session_ = nullptr;
  int rc = sqlite3session_create(db_, "main", &session_);
  if (rc != SQLITE_OK) return Error{std::string("change capture: ") + sqlite3_errstr(rc)};
  sqlite3session_table_filter(session_, FilterTable, nullptr);
  rc = sqlite3session_attach(session_, nullptr);  // every table the filter lets through
  if (rc != SQLITE_OK) return Error{std::string("change capture: ") + sqlite3_errstr(rc)};
  return OkStatus();
}

BatchCapture::~BatchCapture() {
  if (session_) sqlite3session_delete(session_);
}

Status BatchCapture::Flush() {
  if (auto s = TakeChangeset(); !s.ok()) return s;
  flushed_ = true;
  flushed_at_ = ops_.size();
  return Open();
}

Status BatchCapture::TakeChangeset() {
  int n = 0;
  void* p = nullptr;
  int rc = sqlite3session_changeset(session_, &n, &p);
  if (rc != SQLITE_OK) {
    sqlite3_free(p);
    return Error{std::string("change capture: ") + sqlite3_errstr(rc)};
  }
  if (n > 0) ops_.push_back({OpKind::kChangeset, std::string(static_cast<const char*>(p), n)});
  sqlite3_free(p);
  return OkStatus();
}

Status BatchCapture::RollbackTo(size_t mark) {
  bool flushed_since = flushed_ && flushed_at_ >= mark;
  ops_.resize(std::min(mark, ops_.size()));
  if (!flushed_since) return OkStatus();
  flushed_ = false;
  return Open();
}

Result<std::vector<CapturedOp>> BatchCapture::Finish() {
  if (auto s = TakeChangeset(); !s.ok()) return s.error();
  return std::move(ops_);
}

}  // namespace hearth::store
