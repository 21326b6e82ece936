// Store::ApplyEntry: an entry made by another copy of this database, applied
// on the writer thread (see store.h, SubmitApply).
#include <sqlite3.h>

#include <cstring>
#include <vector>

#include "store/entry.h"
#include "store/store.h"

namespace hearth::store {
namespace {

const char* ConflictName(int type) {
  switch (type) {
    case SQLITE_CHANGESET_DATA:
      return "the row is not as the entry found it (DATA)";
    case SQLITE_CHANGESET_NOTFOUND:
      return "the row is missing (NOTFOUND)";
    case SQLITE_CHANGESET_CONFLICT:
      return "the row already exists (CONFLICT)";
    case SQLITE_CHANGESET_CONSTRAINT:
      return "a constraint fails (CONSTRAINT)";
    case SQLITE_CHANGESET_FOREIGN_KEY:
      return "a foreign key fails (FOREIGN_KEY)";
  }
  return "unknown conflict";
}

struct Conflict {
  sqlite3* db = nullptr;
  std::string table;
  int type = 0;
};

bool SameValue(sqlite3_value* a, sqlite3_value* b) {
  int t = sqlite3_value_type(a);
  if (t != sqlite3_value_type(b)) return false;
  switch (t) {
    case SQLITE_NULL:
      return true;
    case SQLITE_INTEGER:
      return sqlite3_value_int64(a) == sqlite3_value_int64(b);
    case SQLITE_FLOAT:
      return sqlite3_value_double(a) == sqlite3_value_double(b);
    default: {
      const void* pa = t == SQLITE_TEXT ? static_cast<const void*>(sqlite3_value_text(a))
                                        : sqlite3_value_blob(a);
      const void* pb = t == SQLITE_TEXT ? static_cast<const void*>(sqlite3_value_text(b))
                                        : sqlite3_value_blob(b);
      int na = sqlite3_value_bytes(a), nb = sqlite3_value_bytes(b);
      return na == nb && (na == 0 || std::memcmp(pa, pb, static_cast<size_t>(na)) == 0);
    }
  }
}

// Whether column `col` of `table` is NOT NULL with a default equal to `value`.
bool IsNotNullDefault(sqlite3* db, const char* table, int col, sqlite3_value* value) {
  sqlite3_stmt* q = nullptr;
  if (sqlite3_prepare_v2(db,
                         "SELECT \"notnull\", dflt_value FROM pragma_table_info(?1) WHERE cid = ?2",
                         -1, &q, nullptr) != SQLITE_OK)
    return false;
  sqlite3_bind_text(q, 1, table, -1, SQLITE_TRANSIENT);
  sqlite3_bind_int(q, 2, col);
  std::string dflt;
  bool not_null = false, has_default = false;
  if (sqlite3_step(q) == SQLITE_ROW) {
    not_null = sqlite3_column_int(q, 0) != 0;
    has_default = sqlite3_column_type(q, 1) != SQLITE_NULL;
    if (has_default) dflt = reinterpret_cast<const char*>(sqlite3_column_text(q, 1));
  }
  sqlite3_finalize(q);
  if (!not_null || !has_default) return false;
  // The default is an SQL expression as written (a literal, in hearth's
  // schemas): its value, computed the way SQLite would.
  sqlite3_stmt* eval = nullptr;
  if (sqlite3_prepare_v2(db, ("SELECT " + dflt).c_str(), -1, &eval, nullptr) != SQLITE_OK)
    return false;
  bool same = sqlite3_step(eval) == SQLITE_ROW && SameValue(sqlite3_column_value(eval, 0), value);
  sqlite3_finalize(eval);
  return same;
}

// SQLite 3.40's session reports the old value of a column added by ALTER
// TABLE ... ADD COLUMN ... DEFAULT as NULL for rows stored before the column
// existed (their records are shorter). A NOT NULL column can hold no NULL,
// so an old NULL where this copy holds the column's default is that, not a
// different row: such a DATA conflict is applied anyway (REPLACE). Every
// other difference is divergence.
bool OnlyShortRecordNulls(sqlite3* db, sqlite3_changeset_iter* it) {
  const char* table = nullptr;
  int columns = 0, op = 0, indirect = 0;
  if (sqlite3changeset_op(it, &table, &columns, &op, &indirect) != SQLITE_OK || !table)
    return false;
  bool any = false;
  for (int i = 0; i < columns; ++i) {
    sqlite3_value* old = nullptr;
    sqlite3_value* current = nullptr;
    if (sqlite3changeset_old(it, i, &old) != SQLITE_OK || !old) continue;  // not in the change
    if (sqlite3changeset_conflict(it, i, &current) != SQLITE_OK || !current) return false;
    if (SameValue(old, current)) continue;
    if (sqlite3_value_type(old) != SQLITE_NULL || !IsNotNullDefault(db, table, i, current))
      return false;
    any = true;
  }
  return any;
}

// Any other conflict means this copy is not what the entry was made against:
// stop, and say where.
int OnConflict(void* ctx, int type, sqlite3_changeset_iter* it) {
  auto* conflict = static_cast<Conflict*>(ctx);
  if (type == SQLITE_CHANGESET_DATA && conflict->type == 0 &&
      OnlyShortRecordNulls(conflict->db, it))
    return SQLITE_CHANGESET_REPLACE;
  if (conflict->type == 0) {
    conflict->type = type;
    const char* table = nullptr;
    int columns = 0, op = 0, indirect = 0;
    if (type != SQLITE_CHANGESET_FOREIGN_KEY &&
        sqlite3changeset_op(it, &table, &columns, &op, &indirect) == SQLITE_OK && table)
      conflict->table = table;
  }
  return SQLITE_CHANGESET_ABORT;
}

// sqlite3changeset_apply skips, silently, the changes of a table that is
// missing or not compatible (another number of columns, the primary key in
// other columns): for the stream that is divergence, so every table a
// changeset names is checked first. Adds each to `tables`.
std::string CheckTables(Connection& c, std::string_view changeset,
                        std::vector<std::string>* tables) {
  sqlite3_changeset_iter* it = nullptr;
  if (sqlite3changeset_start(&it, static_cast<int>(changeset.size()),
                             const_cast<char*>(changeset.data())) != SQLITE_OK)
    return "its changeset does not parse";
  std::string last, why;
  while (why.empty() && sqlite3changeset_next(it) == SQLITE_ROW) {
    const char* table = nullptr;
    int columns = 0, op = 0, indirect = 0;
    sqlite3changeset_op(it, &table, &columns, &op, &indirect);
    if (!table || last == table) continue;
    last = table;
    unsigned char* pk = nullptr;
    int pk_columns = 0;
    sqlite3changeset_pk(it, &pk, &pk_columns);
    auto kind = c.Prepare("SELECT type FROM sqlite_schema WHERE name = ?1");
    if (!kind.ok()) {
      why = kind.error().message;
      break;
    }
    kind->Bind(1, last);
    Status s = OkStatus();
    if (!kind->Step(&s) || kind->Text(0) != "table") {
      why = "table " + last + " does not exist here";
      break;
    }
    auto q = c.Prepare("SELECT pk FROM pragma_table_info(?1) ORDER BY cid");
    if (!q.ok()) {
      why = q.error().message;
      break;
    }
    q->Bind(1, last);
    std::vector<bool> here;
    while (q->Step(&s)) here.push_back(q->Int(0) > 0);
    if (static_cast<int>(here.size()) != columns) {
      why = "table " + last + " has " + std::to_string(here.size()) + " columns here, " +
            std::to_string(columns) + " in the entry";
      break;
    }
    for (int i = 0; i < columns && pk; ++i)
      if (here[static_cast<size_t>(i)] != (pk[i] != 0)) {
        why = "table " + last + " has another primary key here";
        break;
      }
    tables->push_back(last);
  }
  int rc = sqlite3changeset_finalize(it);
  if (why.empty() && rc != SQLITE_OK) why = "its changeset is damaged";
  return why;
}

}  // namespace

Status Store::ApplyEntry(std::string_view bytes, const ApplyOptions& options) {
  auto decoded = DecodeEntry(bytes);
  if (!decoded.ok()) return decoded.error();
  const EntryView& e = *decoded;
  if (e.database != options_.name)
    return Error{"entry " + std::to_string(e.index) + " is for " + std::string(e.database) +
                 ", not " + options_.name};
  if (e.kind == EntryKind::kCreateDatabase)
    return Error{"entry " + std::to_string(e.index) +
                 " makes a new database: the catalog writes it, it is not applied to one"};
  Connection& c = *writer_;
  // Off outside the transaction (inside one it is a no-op): the cascades a
  // delete caused on the origin are in the changeset already, and would
  // otherwise happen twice (and then not find their rows).
  if (auto s = c.Exec("PRAGMA foreign_keys = OFF"); !s.ok()) return s;
  int was = 0;
  sqlite3_db_config(c.raw(), SQLITE_DBCONFIG_ENABLE_TRIGGER, -1, &was);  // read it
  sqlite3_db_config(c.raw(), SQLITE_DBCONFIG_ENABLE_TRIGGER, 0, nullptr);
  struct Restore {
    Connection& c;
    int triggers;
    ~Restore() {
      (void)c.Exec("PRAGMA foreign_keys = ON");
      sqlite3_db_config(c.raw(), SQLITE_DBCONFIG_ENABLE_TRIGGER, triggers, nullptr);
    }
  } restore{c, was};

  if (auto s = c.Exec("BEGIN IMMEDIATE"); !s.ok()) return s;
  bool changed = false;
  Status applied = ApplyOps(e, options, &changed);
  if (!applied.ok()) {
    (void)c.Exec("ROLLBACK");
    return applied;
  }
  // The origin's effects, here too (a copy's realtime clients, schema, routes).
  if (changed) observers_.Dispatch(c, e.ops);
  return OkStatus();
}

// Inside the transaction ApplyEntry began; COMMITs on success.
Status Store::ApplyOps(const EntryView& e, const ApplyOptions& options, bool* applied) {
  Connection& c = *writer_;
  const std::string where =
      "entry " + std::to_string(e.index) + " (" + std::string(e.database) + ")";
  uint64_t held = 0;
  {
    auto q = c.Prepare("SELECT last_index FROM _hearth_stream WHERE one = 1");
    if (!q.ok()) return q.error();
    Status s = OkStatus();
    if (q->Step(&s)) held = static_cast<uint64_t>(q->Int(0));
    if (!s.ok()) return s.error();
  }
  if (e.index <= held) return c.Exec("COMMIT");  // already here: applying twice is a no-op

  std::vector<std::string> touched;
  ByteOpsAfterCommit after;
  for (const EntryOp& op : e.ops) {
    switch (op.kind) {
      case OpKind::kChangeset: {
        std::string why = CheckTables(c, op.payload, &touched);
        if (!why.empty()) return Error{"divergence at " + where + ": " + why};
        Conflict conflict;
        conflict.db = c.raw();
        int rc = sqlite3changeset_apply_v2(
            c.raw(), static_cast<int>(op.payload.size()), const_cast<char*>(op.payload.data()),
            nullptr, OnConflict, &conflict, nullptr, nullptr, SQLITE_CHANGESETAPPLY_NOSAVEPOINT);
        if (conflict.type != 0)
          return Error{"divergence at " + where + ": table " +
                       (conflict.table.empty() ? std::string("?") : conflict.table) + ": " +
                       ConflictName(conflict.type)};
        if (rc != SQLITE_OK)
          return Error{"divergence at " + where + ": " + sqlite3_errmsg(c.raw())};
        break;
      }
      case OpKind::kDdl: {
        auto ddl = c.DdlScope();
        if (auto s = c.Exec(op.payload); !s.ok())
          return Error{"divergence at " + where +
                       ": its schema change fails here: " + s.error().message};
        break;
      }
      case OpKind::kMigration: {
        auto m = DecodeMigration(op.payload);
        if (!m.ok()) return m.error();
        auto ddl = c.DdlScope();
        Status s = c.Exec(m->sql);
        if (s.ok()) s = c.Exec("PRAGMA user_version = " + std::to_string(m->version));
        if (!s.ok())
          return Error{"divergence at " + where + ": migration " + std::to_string(m->version) +
                       " fails here: " + s.error().message};
        break;
      }
      case OpKind::kSequence: {
        auto seq = DecodeSequence(op.payload);
        if (!seq.ok()) return seq.error();
        auto set = c.Prepare("UPDATE sqlite_sequence SET seq = ?2 WHERE name = ?1");
        if (!set.ok()) return Error{"divergence at " + where + ": " + set.error().message};
        set->Bind(1, seq->table).Bind(2, seq->seq);
        if (auto s = set->Run(); !s.ok()) return s;
        if (c.Changes() == 0) {
          auto add = c.Prepare("INSERT INTO sqlite_sequence (name, seq) VALUES (?1, ?2)");
          if (!add.ok()) return add.error();
          add->Bind(1, seq->table).Bind(2, seq->seq);
          if (auto s = add->Run(); !s.ok()) return s;
        }
        break;
      }
      case OpKind::kBlobPut:
      case OpKind::kBlobDelete:
      case OpKind::kFilePut:
      case OpKind::kFileDelete:
      case OpKind::kFileDeleteTree:
        if (Status s = ApplyByteOp(c, e, op, options, where, &after); !s.ok()) return s;
        break;
      default:
        return Error{where + " holds an op (kind " + std::to_string(static_cast<int>(op.kind)) +
                     ") this hearth cannot apply yet"};
    }
  }
  // Foreign keys are off while applying (the origin's cascades are in the
  // changesets), so a row whose parent this copy lacks would go in unseen:
  // the tables the entry wrote are checked before it commits.
  for (const std::string& table : touched) {
    std::string quoted = "\"";
    for (char ch : table) quoted += ch == '"' ? std::string("\"\"") : std::string(1, ch);
    auto fk = c.Prepare("PRAGMA foreign_key_check(" + quoted + "\")");
    if (!fk.ok()) return fk.error();
    Status s = OkStatus();
    if (fk->Step(&s))
      return Error{"divergence at " + where + ": table " + table +
                   ": a row's parent is missing here (FOREIGN KEY)"};
    if (!s.ok()) return s.error();
  }
  {
    auto internal = c.InternalScope();
    auto mark =
        c.Prepare("UPDATE _hearth_stream SET last_index = ?1, last_time = ?2 WHERE one = 1");
    if (!mark.ok()) return mark.error();
    mark->Bind(1, static_cast<int64_t>(e.index)).Bind(2, e.commit_time_us);
    if (auto s = mark->Run(); !s.ok()) return s;
  }
  if (auto s = c.Exec("COMMIT"); !s.ok()) return s;
  FinishByteOps(&after, options);
  *applied = true;
  last_index_.store(e.index);
  commits_.fetch_add(1);
  if (options_.stream && options_.stream->sequencer)
    options_.stream->sequencer->Advance(e.index, e.commit_time_us);
  return OkStatus();
}

}  // namespace hearth::store
