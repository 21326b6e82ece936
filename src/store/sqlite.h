#pragma once
// Thin RAII over SQLite: a Connection, prepared Statements, and the named
// statement registry. Errors come back as values carrying SQLite's message.
// A writer's Connection also holds the change stream's switches: the
// authorizer, Ddl, and the helpers that write bytes (blobs) and record
// byte ops (blobs, record files) for the batch being captured.
#include <sqlite3.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace hearth::store {

class Statement {
 public:
  Statement() = default;
  explicit Statement(sqlite3_stmt* s) : s_(s) {}
  ~Statement();
  Statement(Statement&& o) noexcept
      : s_(o.s_),
        owned_(o.owned_),
        bound_low_(o.bound_low_),
        bound_high_(std::move(o.bound_high_)),
        bound_count_(o.bound_count_) {
    o.s_ = nullptr;
  }
  Statement& operator=(Statement&& o) noexcept;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  // A view of a registry statement owned by its connection: not finalized
  // here, but reset when the view goes away, so no read stays open.
  static Statement Borrow(sqlite3_stmt* s);

  // Binding (1-based, as SQLite). Returns *this for chaining.
  Statement& Bind(int i, int64_t v);
  Statement& Bind(int i, double v);
  Statement& Bind(int i, std::string_view text);
  Statement& BindBlob(int i, std::string_view bytes);
  Statement& BindNull(int i);

  // Steps once: true with a row, false when done; an error leaves *status set.
  // A statement with a parameter nobody bound does not run: SQLite would
  // read it as NULL, and a rule compared with NULL can let a row through
  // that it should hide (`x != ?` is true). Failing closed catches SQL whose
  // placeholders and bound values went out of step.
  bool Step(Status* status);
  // Runs to completion (for writes).
  Status Run();

  int64_t Int(int col) const { return sqlite3_column_int64(s_, col); }
  double Real(int col) const { return sqlite3_column_double(s_, col); }
  std::string_view Text(int col) const;
  std::string_view Blob(int col) const;
  bool IsNull(int col) const { return sqlite3_column_type(s_, col) == SQLITE_NULL; }
  int Columns() const { return sqlite3_column_count(s_); }

  bool ReadOnly() const { return sqlite3_stmt_readonly(s_) != 0; }
  void Reset();                     // ready to bind and run again
  void Release() { s_ = nullptr; }  // forget the statement without finalizing it
  sqlite3_stmt* raw() const { return s_; }

 private:
  void MarkBound(int i);
  void ClearBound() {
    bound_low_ = 0;
    bound_high_.clear();
    bound_count_ = 0;
  }

  sqlite3_stmt* s_ = nullptr;
  bool owned_ = true;
  // Which parameters were bound since the last reset: 1..64 in a mask, the
  // rest (rare) in a vector.
  uint64_t bound_low_ = 0;
  std::vector<bool> bound_high_;
  int bound_count_ = 0;
};

// Named statements, declared once for the whole program and prepared on every
// connection when it opens, so a bad statement fails start-up, not a request.
struct NamedStatement {
  const char* name;
  const char* sql;
};

class BatchCapture;

class Connection {
 public:
  enum class Mode { kReadWrite, kReadOnly };
  // Opens (creating when kReadWrite) with WAL, synchronous=NORMAL, foreign
  // keys on, and a busy timeout.
  static Result<std::unique_ptr<Connection>> Open(const std::string& path, Mode mode);
  ~Connection();

  Status Exec(std::string_view sql);  // one or more statements, no results
  Result<Statement> Prepare(std::string_view sql);
  // Like Prepare, but kept on the connection for the next call with the same
  // SQL (reset and unbound each time): for dynamic SQL that repeats, as the
  // data API's is. Up to 512 are kept; past that, statements are not cached.
  Result<Statement> Cached(const std::string& sql);
  static constexpr size_t kMaxCachedSql = 4096;  // longer SQL is not kept
  // Prepares every registry statement (after migrations created the tables).
  Status PrepareRegistry(const std::vector<NamedStatement>& registry);
  // A registry statement, reset and with bindings cleared. Dies if the name is
  // unknown (a programmer error).
  Statement Named(std::string_view name);

  // Writes a blob piece by piece (SQLite's incremental blob I/O), so a large
  // value never sits in memory whole: the row must already hold a blob of
  // `size` bytes (inserted as zeroblob(size)); `read` fills each piece.
  Status FillBlob(const char* table, const char* column, int64_t rowid, uint64_t size,
                  const std::function<Status(uint64_t offset, char* buf, size_t n)>& read);

  // Reads [offset, offset + n) of a blob into *out (incremental blob I/O: a
  // short read of its own, for streaming a large value in pieces).
  Status ReadBlob(const char* table, const char* column, int64_t rowid, uint64_t offset, size_t n,
                  std::string* out);

  // Schema changes on a writer. The change stream records SQL, not the
  // effect of SQL, for them: a changeset cannot carry a CREATE or an ALTER.
  // So a writer's connection refuses DDL anywhere else (GuardWrites), and
  // this runs `sql`, records it as a ddl op between the changesets before
  // and after it (when the batch is captured), and refuses a table it made
  // that changesets could not carry (store/capture.h, CheckCapturable).
  // Only inside a write submitted alone (Store::WriteOptions): a session
  // cannot span DDL, so the batch must hold nothing else.
  Status Ddl(std::string_view sql);

  // The store's own switches (store.cpp): the authorizer that keeps DDL and
  // the stream's bookkeeping out of reach of other SQL on a writer; the
  // batch being captured; whether Ddl may run now; and the two scopes store
  // code writes in.
  void GuardWrites();
  void SetCapture(BatchCapture* capture) { capture_ = capture; }
  void AllowDdl(bool allow) { ddl_allowed_ = allow; }
  class Scope {
   public:
    Scope(bool* flag) : flag_(flag), was_(*flag) { *flag = true; }  // NOLINT
    ~Scope() { *flag_ = was_; }
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    bool* flag_;
    bool was_;
  };
  Scope DdlScope() { return Scope(&in_ddl_); }            // migrations, Ddl
  Scope InternalScope() { return Scope(&in_internal_); }  // _hearth_stream
  Scope BytesScope() { return Scope(&in_bytes_); }        // the byte tables (below)
  // Tables whose rows no changeset carries (Store::Options::uncaptured:
  // hearth.db's blobs and blob_variants): their changes must travel as ops,
  // so only the helpers below (and schema SQL) may write them.
  void SetByteTables(std::vector<std::string> tables) { byte_tables_ = std::move(tables); }

  // Deploy bytes (hearth.db's blobs and blob_variants; store/bytes.cpp).
  // Each records what it changed as a blob op of the batch being captured,
  // so a copy gets the same rows (and, from a bytes source, the same bytes).
  //
  // Stores blob `hash` (lower-case hex SHA-256 of its bytes) of `size`
  // bytes, written piece by piece by `read`: true when it is new, false when
  // it was already stored (the same bytes, by its name).
  Result<bool> PutBlob(std::string_view hash, uint64_t size,
                       const std::function<Status(uint64_t offset, char* buf, size_t n)>& read);
  // Stores a compressed variant ("br", "zstd", "gzip") of blob `hash`: true
  // when it is new.
  Result<bool> PutBlobVariant(std::string_view hash, std::string_view encoding,
                              std::string_view bytes);
  // Deletes the blobs and variants whose hashes this write collected in
  // temp.gc and that no version file names any more, and empties temp.gc.
  // Returns how many rows went.
  Result<int> DeleteCollectedBlobs();

  // Record files (DATA/files/<site>/<path>) this write stores or lets go:
  // ops of the batch being captured (nothing without one). The files
  // themselves are written before and removed after by their owner.
  // `path` is "<collection>/<record>/<name>", `sha256` raw (32 bytes).
  Status RecordFilePut(std::string_view path, uint64_t size, std::string_view sha256);
  Status RecordFileDelete(std::string_view path);
  // Every file under "<collection>/" (a dropped collection).
  Status RecordFileDeleteTree(std::string_view collection);

  int64_t LastInsertRowid() const { return sqlite3_last_insert_rowid(db_); }
  int Changes() const { return sqlite3_changes(db_); }
  sqlite3* raw() const { return db_; }

 private:
  explicit Connection(sqlite3* db) : db_(db) {}
  static int Authorize(void* self, int action, const char* a, const char* b, const char* db,
                       const char* trigger);
  sqlite3* db_;
  BatchCapture* capture_ = nullptr;
  bool ddl_allowed_ = false;
  bool in_ddl_ = false;
  bool in_internal_ = false;
  bool in_bytes_ = false;
  std::vector<std::string> byte_tables_;
  std::map<std::string, sqlite3_stmt*, std::less<>> named_;
  std::map<std::string, sqlite3_stmt*, std::less<>> cached_;
};

}  // namespace hearth::store
