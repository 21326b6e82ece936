// Create-database entries: the writer's side (Store::Announce) and the
// applier's (WriteDatabaseImage). See store/image.h.
#include "store/image.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include "base/log.h"
#include "store/durable_file.h"
#include "store/store.h"

namespace hearth::store {
namespace {

Status FsyncPath(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Error{"cannot open " + path};
  int rc = fsync(fd);
  close(fd);
  if (rc != 0) return Error{"cannot sync " + path};
  return OkStatus();
}

Result<std::string> ReadFile(const std::string& path) {
  FILE* f = fopen(path.c_str(), "rb");
  if (!f) return Error{"cannot read " + path};
  std::string out;
  char buf[64 * 1024];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  bool bad = ferror(f) != 0;
  fclose(f);
  if (bad) return Error{"cannot read " + path};
  return out;
}

// `db`'s main database, copied with the online backup API into a file of
// its own in rollback-journal mode (one file, nothing beside it), as bytes.
Result<std::string> Image(sqlite3* db, const std::string& tmp) {
  unlink(tmp.c_str());
  sqlite3* dst = nullptr;
  if (sqlite3_open_v2(tmp.c_str(), &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) !=
      SQLITE_OK) {
    sqlite3_close(dst);
    return Error{"cannot create " + tmp};
  }
  sqlite3_backup* b = sqlite3_backup_init(dst, "main", db, "main");
  int rc = b ? sqlite3_backup_step(b, -1) : SQLITE_ERROR;
  if (b) sqlite3_backup_finish(b);
  if (rc == SQLITE_DONE)
    rc = sqlite3_exec(dst, "PRAGMA journal_mode=DELETE", nullptr, nullptr, nullptr);
  std::string why = rc == SQLITE_OK ? "" : sqlite3_errmsg(dst);
  sqlite3_close(dst);
  Result<std::string> out = why.empty() ? ReadFile(tmp) : Result<std::string>(Error{why});
  unlink(tmp.c_str());
  return out;
}

}  // namespace

// Runs in Store::Open, before the writer thread starts: the database was
// just made and migrated, and nothing else has it yet.
Status Store::Announce() {
  auto image = Image(writer_->raw(), options_.path + ".image");
  if (!image.ok()) return image.error();
  EntryView view;
  view.kind = EntryKind::kCreateDatabase;
  view.origin_node = options_.stream->node_id;
  view.database = options_.name;
  view.ops.push_back({OpKind::kDatabaseImage, *image});
  auto bytes = EncodeEntry(view);
  if (!bytes.ok()) return bytes.error();
  if (Status st = writer_->Exec("BEGIN IMMEDIATE"); !st.ok()) return st;
  // The index is recorded in the file here, and by WriteDatabaseImage in
  // the copy's: the image itself holds none.
  auto pending = AppendEntry(std::move(bytes).value());
  if (!pending.ok()) {
    (void)writer_->Exec("ROLLBACK");
    return pending.error();
  }
  Status committed = writer_->Exec("COMMIT");
  if (!committed.ok()) (void)writer_->Exec("ROLLBACK");
  if (!Settle(*pending, committed)) return Error{"the outcome of its COMMIT is unknown"};
  if (committed.ok() &&
      !options_.stream->sink->AwaitAcknowledgeable(pending->end, options_.ack_stall))
    Log(LogLevel::kWarn, "change stream: a new database's entry waited too long for the stream",
        {{"db", options_.path}});
  return committed;
}

Status WriteDatabaseImage(const std::string& path, const EntryView& entry) {
  if (entry.kind != EntryKind::kCreateDatabase || entry.ops.size() != 1)
    return Error{"entry " + std::to_string(entry.index) + " does not make a database"};
  struct stat st;
  if (stat(path.c_str(), &st) == 0)
    return Error{"entry " + std::to_string(entry.index) + " makes " + std::string(entry.database) +
                 ", which exists here"};
  const std::string tmp = path + ".image";
  if (Status s = WriteFileDurably(tmp, entry.ops[0].payload); !s.ok()) return s;
  sqlite3* db = nullptr;
  std::string why;
  if (sqlite3_open_v2(tmp.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
    why = db ? sqlite3_errmsg(db) : "cannot open";
  } else {
    const std::string sql =
        "UPDATE _hearth_stream SET last_index = " + std::to_string(entry.index) +
        ", last_time = " + std::to_string(entry.commit_time_us) + " WHERE one = 1";
    char* err = nullptr;
    if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
      why = err ? err : "cannot record its index";
      sqlite3_free(err);
    } else if (sqlite3_changes(db) != 1) {
      why = "it has no stream position";
    }
  }
  sqlite3_close(db);
  Status s = why.empty() ? FsyncPath(tmp) : Status(Error{why});
  if (s.ok() && rename(tmp.c_str(), path.c_str()) != 0)
    s = Error{"cannot move " + tmp + " into place"};
  if (s.ok()) s = FsyncPath(std::filesystem::path(path).parent_path().string());
  if (!s.ok()) {
    unlink(tmp.c_str());
    return Error{"entry " + std::to_string(entry.index) + " (" + std::string(entry.database) +
                 "): " + s.error().message};
  }
  return OkStatus();
}

}  // namespace hearth::store
