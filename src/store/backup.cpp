#include "store/backup.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>

namespace hearth::store {
namespace {

struct Db {
  sqlite3* db = nullptr;
  ~Db() { sqlite3_close_v2(db); }
};

Status SyncFile(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Error{"cannot open " + path};
  int rc = fsync(fd);
  close(fd);
  if (rc != 0) return Error{"cannot sync " + path};
  // The rename that follows must survive a crash too.
  std::string dir = std::filesystem::path(path).parent_path().string();
  int dfd = open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    fsync(dfd);
    close(dfd);
  }
  return OkStatus();
}

Result<int> Inspect(sqlite3* db, const std::string& what) {
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, nullptr) != SQLITE_OK)
    return Error{what + " is not a SQLite database: " + sqlite3_errmsg(db)};
  std::string result;
  if (sqlite3_step(st) == SQLITE_ROW) result = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
  else result = sqlite3_errmsg(db);
  sqlite3_finalize(st);
  if (result != "ok") return Error{what + " failed its integrity check: " + result};
  int version = 0;
  if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, nullptr) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
    version = sqlite3_column_int(st, 0);
  sqlite3_finalize(st);
  return version;
}

}  // namespace

Status BackupDatabase(const std::string& db_path, const std::string& out_path) {
  if (!std::filesystem::exists(db_path)) return Error{"no database at " + db_path};
  std::string tmp = out_path + ".partial";
  std::filesystem::remove(tmp);
  Db src, dst;
  if (sqlite3_open_v2(db_path.c_str(), &src.db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK)
    return Error{"cannot open " + db_path + ": " + sqlite3_errmsg(src.db)};
  sqlite3_busy_timeout(src.db, 5000);
  if (sqlite3_open_v2(tmp.c_str(), &dst.db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) != SQLITE_OK)
    return Error{"cannot create " + out_path + ": " + sqlite3_errmsg(dst.db)};
  sqlite3_backup* b = sqlite3_backup_init(dst.db, "main", src.db, "main");
  if (!b) return Error{"backup failed: " + std::string(sqlite3_errmsg(dst.db))};
  int rc;
  // All pages in one step: a read transaction on the source gives one
  // consistent snapshot, and with WAL the server's writer is never blocked.
  do {
    rc = sqlite3_backup_step(b, -1);
    if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) sqlite3_sleep(50);
  } while (rc == SQLITE_OK || rc == SQLITE_BUSY || rc == SQLITE_LOCKED);
  sqlite3_backup_finish(b);
  if (rc != SQLITE_DONE) {
    std::filesystem::remove(tmp);
    return Error{"backup failed: " + std::string(sqlite3_errstr(rc))};
  }
  // A self-contained file: no WAL beside it.
  sqlite3_exec(dst.db, "PRAGMA journal_mode=DELETE", nullptr, nullptr, nullptr);
  auto checked = Inspect(dst.db, "the backup");
  sqlite3_close_v2(dst.db);
  dst.db = nullptr;
  if (!checked.ok()) {
    std::filesystem::remove(tmp);
    return checked.error();
  }
  if (Status s = SyncFile(tmp); !s.ok()) return s;
  std::error_code ec;
  std::filesystem::rename(tmp, out_path, ec);
  if (ec) return Error{"cannot write " + out_path + ": " + ec.message()};
  return SyncFile(out_path);
}

Result<int> CheckBackup(const std::string& path, int max_version) {
  if (!std::filesystem::is_regular_file(path)) return Error{"no backup file at " + path};
  Db db;
  if (sqlite3_open_v2(path.c_str(), &db.db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK)
    return Error{"cannot open " + path + ": " + sqlite3_errmsg(db.db)};
  auto version = Inspect(db.db, path);
  if (!version.ok()) return version.error();
  if (*version > max_version)
    return Error{path + " was written by a newer hearth (schema version " + std::to_string(*version) + ")"};
  if (*version == 0) return Error{path + " is not a hearth backup (no schema)"};
  return version;
}

Status RestoreDatabase(const std::string& backup_path, const std::string& db_path, int max_version) {
  auto version = CheckBackup(backup_path, max_version);
  if (!version.ok()) return version.error();
  std::string tmp = db_path + ".restoring";
  std::error_code ec;
  std::filesystem::copy_file(backup_path, tmp, std::filesystem::copy_options::overwrite_existing, ec);
  if (ec) return Error{"cannot copy " + backup_path + ": " + ec.message()};
  if (Status s = SyncFile(tmp); !s.ok()) return s;
  // The old WAL belongs to the old database: it must not be replayed onto the restored one.
  std::filesystem::remove(db_path + "-wal", ec);
  std::filesystem::remove(db_path + "-shm", ec);
  std::filesystem::rename(tmp, db_path, ec);
  if (ec) return Error{"cannot replace " + db_path + ": " + ec.message()};
  return SyncFile(db_path);
}

}  // namespace hearth::store
