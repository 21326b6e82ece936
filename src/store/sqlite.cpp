#include "store/sqlite.h"

#include <algorithm>
#include <cstdlib>

#include "base/log.h"
#include "store/capture.h"

namespace hearth::store {

Statement::~Statement() {
  if (!s_) return;
  if (owned_) {
    sqlite3_finalize(s_);
  } else {
    // A registry statement left mid-result would keep its read transaction
    // (and its old snapshot) open until the next use: end it now.
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }
}

Statement& Statement::operator=(Statement&& o) noexcept {
  if (this != &o) {
    if (s_ && owned_)
      sqlite3_finalize(s_);
    else if (s_)
      sqlite3_reset(s_);
    s_ = o.s_;
    owned_ = o.owned_;
    bound_low_ = o.bound_low_;
    bound_high_ = std::move(o.bound_high_);
    bound_count_ = o.bound_count_;
    o.s_ = nullptr;
  }
  return *this;
}

Statement Statement::Borrow(sqlite3_stmt* s) {
  Statement st(s);
  st.owned_ = false;
  return st;
}

Statement& Statement::Bind(int i, int64_t v) {
  MarkBound(i);
  sqlite3_bind_int64(s_, i, v);
  return *this;
}
Statement& Statement::Bind(int i, double v) {
  MarkBound(i);
  sqlite3_bind_double(s_, i, v);
  return *this;
}
Statement& Statement::Bind(int i, std::string_view t) {
  MarkBound(i);
  sqlite3_bind_text64(s_, i, t.data(), t.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
  return *this;
}
Statement& Statement::BindBlob(int i, std::string_view b) {
  MarkBound(i);
  sqlite3_bind_blob64(s_, i, b.data(), b.size(), SQLITE_TRANSIENT);
  return *this;
}
Statement& Statement::BindNull(int i) {
  MarkBound(i);
  sqlite3_bind_null(s_, i);
  return *this;
}

void Statement::MarkBound(int i) {
  if (i < 1 || i > sqlite3_bind_parameter_count(s_)) return;  // SQLite refuses it (SQLITE_RANGE)
  if (i <= 64) {
    uint64_t bit = uint64_t{1} << (i - 1);
    if (bound_low_ & bit) return;
    bound_low_ |= bit;
  } else {
    if (bound_high_.size() < static_cast<size_t>(i - 64)) bound_high_.resize(i - 64, false);
    if (bound_high_[i - 65]) return;
    bound_high_[i - 65] = true;
  }
  ++bound_count_;
}

bool Statement::Step(Status* status) {
  if (!sqlite3_stmt_busy(s_) && bound_count_ != sqlite3_bind_parameter_count(s_)) {
    *status = Error{"internal error: a parameter of the statement was not bound"};
    return false;
  }
  int rc = sqlite3_step(s_);
  if (rc == SQLITE_ROW) return true;
  if (rc != SQLITE_DONE) *status = Error{sqlite3_errmsg(sqlite3_db_handle(s_))};
  return false;
}

Status Statement::Run() {
  Status st = OkStatus();
  while (Step(&st)) {
  }
  return st;
}

std::string_view Statement::Text(int col) const {
  const unsigned char* p = sqlite3_column_text(s_, col);
  return p ? std::string_view(reinterpret_cast<const char*>(p),
                              static_cast<size_t>(sqlite3_column_bytes(s_, col)))
           : std::string_view();
}

std::string_view Statement::Blob(int col) const {
  const void* p = sqlite3_column_blob(s_, col);
  return p ? std::string_view(static_cast<const char*>(p),
                              static_cast<size_t>(sqlite3_column_bytes(s_, col)))
           : std::string_view();
}

void Statement::Reset() {
  sqlite3_reset(s_);
  sqlite3_clear_bindings(s_);
  ClearBound();
}

Result<std::unique_ptr<Connection>> Connection::Open(const std::string& path, Mode mode) {
  sqlite3* db = nullptr;
  int flags =
      SQLITE_OPEN_NOMUTEX | (mode == Mode::kReadWrite ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE
                                                      : SQLITE_OPEN_READONLY);
  int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    return Error{"cannot open " + path + ": " + msg};
  }
  std::unique_ptr<Connection> c(new Connection(db));
  sqlite3_busy_timeout(db, 5000);
  sqlite3_extended_result_codes(db, 1);
  // WAL: readers never block the writer nor the writer readers. NORMAL: a
  // committed transaction is in the WAL before COMMIT returns, so a killed
  // process loses nothing; only a power loss can drop the last commits (the
  // database is never corrupted).
  const char* setup =
      mode == Mode::kReadWrite
          ? "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"
          : "PRAGMA foreign_keys=ON;";
  if (auto st = c->Exec(setup); !st.ok())
    return Error{"cannot set up " + path + ": " + st.error().message};
  return c;
}

Connection::~Connection() {
  for (auto& [name, s] : named_) sqlite3_finalize(s);
  for (auto& [sql, s] : cached_) sqlite3_finalize(s);
  sqlite3_close_v2(db_);
}

void Connection::GuardWrites() {
  sqlite3_set_authorizer(db_, &Connection::Authorize, this);
}

// Runs while SQLite prepares a statement on a writer (so a cached statement
// is judged once, and again if SQLite re-prepares it). Objects in `temp` are
// always allowed: they are not in `main`, hence not captured.
int Connection::Authorize(void* self, int action, const char* a, const char* b, const char* db,
                          const char*) {
  auto* c = static_cast<Connection*>(self);
  auto is = [](const char* s, std::string_view v) { return s && std::string_view(s) == v; };
  switch (action) {
    case SQLITE_CREATE_TABLE:
    case SQLITE_CREATE_INDEX:
    case SQLITE_CREATE_VIEW:
    case SQLITE_DROP_TABLE:
    case SQLITE_DROP_INDEX:
    case SQLITE_DROP_VIEW:
      if (is(db, "temp")) return SQLITE_OK;
      return c->in_ddl_ ? SQLITE_OK : SQLITE_DENY;
    case SQLITE_ALTER_TABLE:  // a: the database, b: the table
      if (is(a, "temp")) return SQLITE_OK;
      return c->in_ddl_ ? SQLITE_OK : SQLITE_DENY;
    // Never in a captured database: a trigger's writes would be in the
    // changeset and done again by the trigger on a copy; a virtual table
    // (FTS) is not recorded; an attached database is outside the stream.
    case SQLITE_CREATE_TRIGGER:
    case SQLITE_CREATE_VTABLE:
    case SQLITE_DROP_VTABLE:
    case SQLITE_ATTACH:
    case SQLITE_DETACH:
      return SQLITE_DENY;
    // Schema SQL (Ddl, a migration, an entry being applied) runs inside the
    // writer's transaction: a COMMIT or a SAVEPOINT in it would end or split
    // that transaction part-way.
    case SQLITE_TRANSACTION:
    case SQLITE_SAVEPOINT:
      return c->in_ddl_ ? SQLITE_DENY : SQLITE_OK;
    case SQLITE_PRAGMA:  // a: the pragma, b: its argument (null when reading)
      if (!b) return SQLITE_OK;
      // Each would change the schema or the file's shape behind Ddl's back.
      if (is(a, "writable_schema") || is(a, "schema_version") || is(a, "journal_mode") ||
          is(a, "legacy_alter_table"))
        return SQLITE_DENY;
      if (is(a, "user_version")) return c->in_ddl_ ? SQLITE_OK : SQLITE_DENY;
      return SQLITE_OK;
    case SQLITE_INSERT:
    case SQLITE_UPDATE:
    case SQLITE_DELETE:
      // (sqlite_schema needs no rule: SQLite refuses writes to it unless
      // writable_schema is on, which is refused above; and its own nested
      // writes, e.g. when a table-valued pragma is first used, must pass.)
      if (is(a, "_hearth_stream")) return c->in_internal_ ? SQLITE_OK : SQLITE_DENY;
      // The byte tables: only the byte helpers write them (store/bytes.cpp),
      // so that every change is also a blob op. Schema SQL may too: a DROP
      // TABLE or a migration's rewrite is replayed from its SQL on a copy.
      if (!c->in_bytes_ && !c->in_ddl_ && a && !is(db, "temp"))
        for (const std::string& t : c->byte_tables_)
          if (t == a) return SQLITE_DENY;
      return SQLITE_OK;
    default:
      return SQLITE_OK;
  }
}

namespace {

// Table -> its number of columns, and whether one of them has a default
// that is not NULL.
struct TableShape {
  int columns = 0;
  std::vector<std::pair<std::string, bool>> defaults;  // column, default is not NULL
};

Result<std::map<std::string, TableShape>> Shapes(Connection& c) {
  auto q = c.Prepare(
      "SELECT m.name, p.name, p.dflt_value IS NOT NULL FROM sqlite_schema AS m "
      "JOIN pragma_table_info(m.name) AS p WHERE m.type = 'table' ORDER BY m.name, p.cid");
  if (!q.ok()) return q.error();
  std::map<std::string, TableShape> out;
  Status s = OkStatus();
  while (q->Step(&s)) {
    TableShape& t = out[std::string(q->Text(0))];
    t.columns += 1;
    t.defaults.emplace_back(std::string(q->Text(1)), q->Int(2) != 0);
  }
  if (!s.ok()) return s.error();
  return out;
}

std::string Quote(const std::string& name) {
  std::string out = "\"";
  for (char ch : name) {
    if (ch == '"') out.push_back('"');
    out.push_back(ch);
  }
  return out + "\"";
}

}  // namespace

Status Connection::Ddl(std::string_view sql) {
  if (!ddl_allowed_)
    return Error{"a schema change must be a write of its own (submit it with alone = true)"};
  auto before = Shapes(*this);
  if (!before.ok()) return before.error();
  // No session is attached while the DDL runs: what it does is replayed from
  // its SQL, never also from a changeset.
  if (capture_) capture_->Pause();
  struct ResumeAfter {
    BatchCapture* capture;
    ~ResumeAfter() {
      if (capture) capture->Resume();
    }
  } resume{capture_};
  std::string recorded(sql);
  {
    Scope ddl = DdlScope();
    if (auto s = Exec(sql); !s.ok()) return s;
  }
  auto after = Shapes(*this);
  if (!after.ok()) return after.error();
  for (const auto& [table, shape] : *after) {
    auto was = before->find(table);
    // sqlite_sequence (made by the first AUTOINCREMENT table) is SQLite's
    // own: its rows travel as sequence ops.
    if (table.rfind("sqlite_", 0) == 0) continue;
    if (was == before->end()) {
      std::string why = CheckCapturable(*this, table);
      if (!why.empty()) return Error{why};
      continue;
    }
    // A column added with a default is not in the rows' stored records until
    // they are rewritten, and SQLite 3.40's session then reports the old
    // value of such a column as NULL, not its default: an update of the row
    // would not apply on a copy. Rewriting the rows now (here and, as part
    // of the recorded SQL, on every copy) stores the default in each.
    if (shape.columns <= was->second.columns) continue;
    for (size_t i = static_cast<size_t>(was->second.columns); i < shape.defaults.size(); ++i) {
      if (!shape.defaults[i].second) continue;
      const std::string& column = shape.defaults[i].first;
      std::string rewrite =
          "UPDATE " + Quote(table) + " SET " + Quote(column) + " = " + Quote(column);
      if (auto s = Exec(rewrite); !s.ok()) return s;
      recorded += ";\n" + rewrite;
      break;
    }
  }
  if (capture_) capture_->Add(OpKind::kDdl, recorded);
  return OkStatus();
}

Status Connection::Exec(std::string_view sql) {
  std::string owned(sql);
  char* err = nullptr;
  int rc = sqlite3_exec(db_, owned.c_str(), nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string msg = err ? err : sqlite3_errstr(rc);
    sqlite3_free(err);
    return Error{msg};
  }
  return OkStatus();
}

Result<Statement> Connection::Prepare(std::string_view sql) {
  sqlite3_stmt* s = nullptr;
  const char* tail = nullptr;
  int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()), 0, &s, &tail);
  if (rc != SQLITE_OK) return Error{sqlite3_errmsg(db_)};
  if (!s) return Error{"empty statement"};
  if (tail && std::string_view(tail).find_first_not_of(" \t\r\n;") != std::string_view::npos) {
    sqlite3_finalize(s);
    return Error{"only one statement at a time"};
  }
  return Statement(s);
}

Result<Statement> Connection::Cached(const std::string& sql) {
  auto it = cached_.find(sql);
  if (it != cached_.end()) {
    sqlite3_reset(it->second);
    sqlite3_clear_bindings(it->second);
    return Statement::Borrow(it->second);
  }
  auto st = Prepare(sql);
  // Long SQL (a client's filter through relations, each step carrying a view
  // rule) compiles to a large program: kept, 512 of them could hold hundreds
  // of MiB per connection. Such statements are prepared afresh each time.
  if (!st.ok() || cached_.size() >= 512 || sql.size() > kMaxCachedSql) return st;
  sqlite3_stmt* raw = st->raw();
  Statement owned = std::move(st).value();
  // Hand ownership to the cache: the returned view is borrowed.
  cached_[sql] = raw;
  owned.Release();
  return Statement::Borrow(raw);
}

Status Connection::PrepareRegistry(const std::vector<NamedStatement>& registry) {
  for (const auto& n : registry) {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v3(db_, n.sql, -1, SQLITE_PREPARE_PERSISTENT, &s, nullptr) != SQLITE_OK)
      return Error{std::string("statement ") + n.name + ": " + sqlite3_errmsg(db_)};
    named_[n.name] = s;
  }
  return OkStatus();
}

Statement Connection::Named(std::string_view name) {
  auto it = named_.find(name);
  if (it == named_.end()) {
    Log(LogLevel::kError, "unknown named statement", {{"name", std::string(name)}});
    std::abort();
  }
  sqlite3_reset(it->second);
  sqlite3_clear_bindings(it->second);
  return Statement::Borrow(it->second);
}

Status Connection::FillBlob(const char* table, const char* column, int64_t rowid, uint64_t size,
                            const std::function<Status(uint64_t, char*, size_t)>& read) {
  sqlite3_blob* blob = nullptr;
  if (sqlite3_blob_open(db_, "main", table, column, rowid, 1, &blob) != SQLITE_OK) {
    std::string msg = sqlite3_errmsg(db_);
    sqlite3_blob_close(blob);
    return Error{msg};
  }
  if (static_cast<uint64_t>(sqlite3_blob_bytes(blob)) != size) {
    sqlite3_blob_close(blob);
    return Error{"blob size differs from the bytes to write"};
  }
  constexpr size_t kPiece = 256 * 1024;
  std::string buf(size < kPiece ? static_cast<size_t>(size) : kPiece, '\0');
  for (uint64_t off = 0; off < size;) {
    size_t n = size - off < kPiece ? static_cast<size_t>(size - off) : kPiece;
    if (Status st = read(off, buf.data(), n); !st.ok()) {
      sqlite3_blob_close(blob);
      return st;
    }
    if (sqlite3_blob_write(blob, buf.data(), static_cast<int>(n), static_cast<int>(off)) !=
        SQLITE_OK) {
      std::string msg = sqlite3_errmsg(db_);
      sqlite3_blob_close(blob);
      return Error{msg};
    }
    off += n;
  }
  if (sqlite3_blob_close(blob) != SQLITE_OK) return Error{sqlite3_errmsg(db_)};
  return OkStatus();
}

Status Connection::ReadBlob(const char* table, const char* column, int64_t rowid, uint64_t offset,
                            size_t n, std::string* out) {
  sqlite3_blob* blob = nullptr;
  if (sqlite3_blob_open(db_, "main", table, column, rowid, 0, &blob) != SQLITE_OK) {
    std::string msg = sqlite3_errmsg(db_);
    sqlite3_blob_close(blob);
    return Error{msg};
  }
  uint64_t size = static_cast<uint64_t>(sqlite3_blob_bytes(blob));
  if (offset > size || n > size - offset) {
    sqlite3_blob_close(blob);
    return Error{"read past the end of a blob"};
  }
  out->resize(n);
  int rc = sqlite3_blob_read(blob, out->data(), static_cast<int>(n), static_cast<int>(offset));
  sqlite3_blob_close(blob);
  if (rc != SQLITE_OK) return Error{sqlite3_errstr(rc)};
  return OkStatus();
}

}  // namespace hearth::store
