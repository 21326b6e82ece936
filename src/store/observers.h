#pragma once
// Observers: effects driven by committed changes.
//
// What a write causes beyond its rows (a realtime event, a new schema
// snapshot, the sites' routing generation, a certificate installed) is not
// done by the write's completion but by an observer of the tables it
// changed, fed with the committed batch's row images. The same dispatch runs
// after a batch the Store made itself and after an entry another copy made
// (Store::Apply), so a copy or a replica gets the origin's effects.
//
//  * An observer names the tables it wants (`wants`, asked again for every
//    batch: it may change, e.g. collection tables only while realtime has
//    clients) and gets, once per entry that touched one of them, `begin`,
//    then a RowChange per changed row of those tables, then `end`: so it can
//    coalesce (one routing bump per entry, one realtime publish per commit).
//  * Observers run on the writer thread, after COMMIT and before the
//    batch's completions, in registration order. They must not block (the
//    next batch waits for them) and must not write to the Store.
//  * A RowChange is the changeset's view of a row (SQLite's session
//    extension): INSERT has the new image, DELETE the old one (every
//    column), UPDATE the primary key and the changed columns only;
//    `NewRow` reads the rest on the writer connection (the committed state).
//    Within one batch, writes to the same row are one change (insert then
//    update: an INSERT of the final row; insert then delete: nothing).
//
// A Store records its batches' rows when it has a change stream (everything)
// or, without one, only while an observer wants a table (effects-only:
// nothing else is kept, no entry is made).
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "store/entry.h"

namespace hearth::store {

class Connection;

// One column's value in a row image.
struct Value {
  enum class Type : uint8_t { kUnset, kNull, kInt, kReal, kText, kBlob };
  Type type = Type::kUnset;  // kUnset: the changeset does not carry this column
  int64_t i = 0;
  double real = 0;
  std::string bytes;  // kText, kBlob
  bool unset() const { return type == Type::kUnset; }
  bool null() const { return type == Type::kNull; }
  std::string_view text() const { return bytes; }
};

enum class RowOp { kInsert, kUpdate, kDelete };

struct RowChange {
  std::string_view table;
  RowOp op = RowOp::kInsert;
  const std::vector<std::string>* columns = nullptr;  // the table's column names, in order
  std::vector<bool> pk;                               // per column: part of the primary key
  std::vector<Value> old_row, new_row;                // per column (empty when the op has none)

  // Index of column `name`, or -1.
  int Column(std::string_view name) const;
  // The old or new image's value of `name` (kUnset when absent).
  const Value& Old(std::string_view name) const;
  const Value& New(std::string_view name) const;
  // The whole row as committed: INSERT's new image; for an UPDATE, read by
  // primary key on `c` (the writer connection, between COMMIT and the next
  // batch: exactly the committed state). Empty for a DELETE or a row that is
  // gone.
  Result<std::vector<Value>> NewRow(Connection& c) const;
};

class Observers {
 public:
  using RowFn = std::function<void(Connection& c, const RowChange& change)>;
  using EntryFn = std::function<void(Connection& c)>;
  using OpFn = std::function<void(Connection& c, std::string_view payload)>;
  struct Observer {
    std::function<bool(std::string_view table)> wants;
    EntryFn begin;  // optional
    RowFn row;
    EntryFn end;  // optional
  };

  // Registration: before the writes whose effects matter (a part registers
  // at the start of its service), from any thread.
  void Add(Observer o);
  void On(std::string table, RowFn fn, EntryFn end = nullptr);
  // An op of `kind` (a file removal, ...), in the entry's order.
  void OnOp(OpKind kind, OpFn fn);

  // Whether some observer wants `table` now / any table at all (the writer
  // records a batch without a stream only then).
  bool Wants(std::string_view table) const;
  bool Active() const;

  // Hands the committed entry's ops to the observers (writer thread).
  void Dispatch(Connection& c, const std::vector<EntryOp>& ops);

 private:
  std::shared_ptr<const std::vector<Observer>> Snapshot() const;
  mutable std::mutex mu_;
  // Replaced whole on registration: the writer uses a list without the lock.
  std::shared_ptr<const std::vector<Observer>> observers_;
  std::shared_ptr<const std::vector<std::pair<OpKind, OpFn>>> op_observers_;
};

}  // namespace hearth::store
