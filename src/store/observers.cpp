// The session extension's declarations need the defines CMakeLists.txt sets
// for this library (see capture.cpp).
#include "store/observers.h"

#include <sqlite3.h>

#include <exception>
#include <map>

#include "base/log.h"
#include "store/sqlite.h"

namespace hearth::store {
namespace {

const Value& Unset() {
  static const Value kUnset;
  return kUnset;
}

Value FromSqlite(sqlite3_value* v) {
  Value out;
  if (!v) return out;  // the changeset does not carry this column
  switch (sqlite3_value_type(v)) {
    case SQLITE_NULL:
      out.type = Value::Type::kNull;
      break;
    case SQLITE_INTEGER:
      out.type = Value::Type::kInt;
      out.i = sqlite3_value_int64(v);
      break;
    case SQLITE_FLOAT:
      out.type = Value::Type::kReal;
      out.real = sqlite3_value_double(v);
      break;
    case SQLITE_TEXT:
      out.type = Value::Type::kText;
      out.bytes.assign(reinterpret_cast<const char*>(sqlite3_value_text(v)),
                       static_cast<size_t>(sqlite3_value_bytes(v)));
      break;
    default:
      out.type = Value::Type::kBlob;
      if (const void* p = sqlite3_value_blob(v))
        out.bytes.assign(static_cast<const char*>(p), static_cast<size_t>(sqlite3_value_bytes(v)));
      break;
  }
  return out;
}

std::string Quote(std::string_view name) {
  std::string q = "\"";
  for (char ch : name) q += ch == '"' ? std::string("\"\"") : std::string(1, ch);
  return q + "\"";
}

// The column names of `table` on `c`, in order (PRAGMA table_info).
std::vector<std::string> ColumnNames(Connection& c, std::string_view table) {
  std::vector<std::string> out;
  auto q = c.Prepare("SELECT name FROM pragma_table_info(?1) ORDER BY cid");
  if (!q.ok()) return out;
  q->Bind(1, table);
  Status s = OkStatus();
  while (q->Step(&s)) out.emplace_back(q->Text(0));
  return out;
}

void Guarded(const char* what, const std::function<void()>& fn) {
  // An effect that throws must not end the writer thread: the commit is done.
  try {
    fn();
  } catch (const std::exception& e) {
    Log(LogLevel::kError, "an observer of committed changes failed",
        {{"step", what}, {"error", e.what()}});
  }
}

}  // namespace

int RowChange::Column(std::string_view name) const {
  if (!columns) return -1;
  for (size_t i = 0; i < columns->size(); ++i)
    if ((*columns)[i] == name) return static_cast<int>(i);
  return -1;
}

const Value& RowChange::Old(std::string_view name) const {
  int i = Column(name);
  return i >= 0 && static_cast<size_t>(i) < old_row.size() ? old_row[static_cast<size_t>(i)]
                                                           : Unset();
}

const Value& RowChange::New(std::string_view name) const {
  int i = Column(name);
  return i >= 0 && static_cast<size_t>(i) < new_row.size() ? new_row[static_cast<size_t>(i)]
                                                           : Unset();
}

Result<std::vector<Value>> RowChange::NewRow(Connection& c) const {
  if (op == RowOp::kInsert) return new_row;
  if (op == RowOp::kDelete || !columns) return std::vector<Value>{};
  // SELECT * lists the columns in table_info order, the changeset's order.
  std::string sql = "SELECT * FROM " + Quote(table) + " WHERE ";
  std::vector<const Value*> keys;
  for (size_t i = 0; i < pk.size() && i < columns->size() && i < old_row.size(); ++i) {
    if (!pk[i]) continue;
    if (!keys.empty()) sql += " AND ";
    sql += Quote((*columns)[i]) + " = ?" + std::to_string(keys.size() + 1);
    keys.push_back(&old_row[i]);
  }
  if (keys.empty()) return Error{"table " + std::string(table) + ": no primary key in the change"};
  auto q = c.Prepare(sql);
  if (!q.ok()) return q.error();
  for (size_t k = 0; k < keys.size(); ++k) {
    int at = static_cast<int>(k + 1);
    const Value& v = *keys[k];
    switch (v.type) {
      case Value::Type::kInt:
        q->Bind(at, v.i);
        break;
      case Value::Type::kReal:
        q->Bind(at, v.real);
        break;
      case Value::Type::kText:
        q->Bind(at, v.text());
        break;
      case Value::Type::kBlob:
        q->BindBlob(at, v.bytes);
        break;
      default:
        q->BindNull(at);
        break;
    }
  }
  std::vector<Value> row;
  Status s = OkStatus();
  if (q->Step(&s)) {
    int n = sqlite3_column_count(q->raw());
    for (int i = 0; i < n; ++i) row.push_back(FromSqlite(sqlite3_column_value(q->raw(), i)));
  }
  if (!s.ok()) return s.error();
  return row;
}

void Observers::Add(Observer o) {
  std::lock_guard<std::mutex> lock(mu_);
  auto next =
      std::make_shared<std::vector<Observer>>(observers_ ? *observers_ : std::vector<Observer>{});
  next->push_back(std::move(o));
  observers_ = std::move(next);
}

void Observers::On(std::string table, RowFn fn, EntryFn end) {
  Observer o;
  o.wants = [table = std::move(table)](std::string_view t) { return t == table; };
  o.row = std::move(fn);
  o.end = std::move(end);
  Add(std::move(o));
}

void Observers::OnOp(OpKind kind, OpFn fn) {
  std::lock_guard<std::mutex> lock(mu_);
  auto next = std::make_shared<std::vector<std::pair<OpKind, OpFn>>>(
      op_observers_ ? *op_observers_ : std::vector<std::pair<OpKind, OpFn>>{});
  next->emplace_back(kind, std::move(fn));
  op_observers_ = std::move(next);
}

std::shared_ptr<const std::vector<Observers::Observer>> Observers::Snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  return observers_;
}

bool Observers::Wants(std::string_view table) const {
  auto observers = Snapshot();
  if (!observers) return false;
  for (const Observer& o : *observers)
    if (o.wants && o.wants(table)) return true;
  return false;
}

bool Observers::Active() const {
  std::lock_guard<std::mutex> lock(mu_);
  return observers_ && !observers_->empty();
}

void Observers::Dispatch(Connection& c, const std::vector<EntryOp>& ops) {
  // The lists as they are now (registration replaces them, never changes
  // one in place), used without the lock.
  std::shared_ptr<const std::vector<Observer>> observers_now;
  std::shared_ptr<const std::vector<std::pair<OpKind, OpFn>>> ops_now;
  {
    std::lock_guard<std::mutex> lock(mu_);
    observers_now = observers_;
    ops_now = op_observers_;
  }
  static const std::vector<Observer> kNone;
  static const std::vector<std::pair<OpKind, OpFn>> kNoOps;
  const std::vector<Observer>& observers = observers_now ? *observers_now : kNone;
  const std::vector<std::pair<OpKind, OpFn>>& op_observers = ops_now ? *ops_now : kNoOps;
  if (ops.empty() || (observers.empty() && op_observers.empty())) return;
  std::vector<bool> begun(observers.size(), false);
  std::map<std::string, std::vector<std::string>, std::less<>> names;  // per table, read once
  std::string wanting_table;
  std::vector<size_t> wanting;
  for (const EntryOp& op : ops) {
    if (op.kind != OpKind::kChangeset) {
      // Not a structured binding: clang before 16 cannot capture one.
      for (const auto& observer : op_observers)
        if (observer.first == op.kind) Guarded("op", [&] { observer.second(c, op.payload); });
      continue;
    }
    sqlite3_changeset_iter* it = nullptr;
    if (sqlite3changeset_start(&it, static_cast<int>(op.payload.size()),
                               const_cast<char*>(op.payload.data())) != SQLITE_OK)
      continue;  // made by this store or checked by Apply: cannot happen
    while (sqlite3changeset_next(it) == SQLITE_ROW) {
      const char* table = nullptr;
      int ncol = 0, kind = 0, indirect = 0;
      if (sqlite3changeset_op(it, &table, &ncol, &kind, &indirect) != SQLITE_OK) break;
      std::string_view name(table);
      // A changeset holds each table's rows together: who wants them is
      // asked once per table, not once per row.
      if (name != wanting_table) {
        wanting_table.assign(name);
        wanting.clear();
        for (size_t i = 0; i < observers.size(); ++i)
          if (observers[i].wants && observers[i].wants(name)) wanting.push_back(i);
      }
      if (wanting.empty()) continue;
      auto cols = names.find(name);
      if (cols == names.end()) cols = names.emplace(std::string(name), ColumnNames(c, name)).first;
      RowChange change;
      change.table = name;
      change.columns = &cols->second;
      change.op = kind == SQLITE_INSERT   ? RowOp::kInsert
                  : kind == SQLITE_DELETE ? RowOp::kDelete
                                          : RowOp::kUpdate;
      unsigned char* pk = nullptr;
      int pk_cols = 0;
      if (sqlite3changeset_pk(it, &pk, &pk_cols) == SQLITE_OK)
        for (int i = 0; i < pk_cols; ++i) change.pk.push_back(pk[i] != 0);
      for (int i = 0; i < ncol; ++i) {
        sqlite3_value* v = nullptr;
        if (change.op != RowOp::kInsert) {
          v = nullptr;
          sqlite3changeset_old(it, i, &v);
          change.old_row.push_back(FromSqlite(v));
        }
        if (change.op != RowOp::kDelete) {
          v = nullptr;
          sqlite3changeset_new(it, i, &v);
          change.new_row.push_back(FromSqlite(v));
        }
      }
      for (size_t i : wanting) {
        const Observer& o = observers[i];
        if (!begun[i]) {
          begun[i] = true;
          if (o.begin) Guarded("begin", [&] { o.begin(c); });
        }
        if (o.row) Guarded("row", [&] { o.row(c, change); });
      }
    }
    sqlite3changeset_finalize(it);
  }
  for (size_t i = 0; i < observers.size(); ++i)
    if (begun[i] && observers[i].end) Guarded("end", [&] { observers[i].end(c); });
}

}  // namespace hearth::store
