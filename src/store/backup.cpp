#include "store/backup.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "store/digest.h"
#include "store/sqlite.h"

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
  if (sqlite3_step(st) == SQLITE_ROW)
    result = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
  else
    result = sqlite3_errmsg(db);
  sqlite3_finalize(st);
  if (result != "ok") return Error{what + " failed its integrity check: " + result};
  int version = 0;
  if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, nullptr) == SQLITE_OK &&
      sqlite3_step(st) == SQLITE_ROW)
    version = sqlite3_column_int(st, 0);
  sqlite3_finalize(st);
  return version;
}

}  // namespace

namespace {

// `src_path` -> `dst_path` (created) with the online backup API, all pages in
// one step: a read transaction on the source gives one consistent snapshot,
// and with WAL the server's writer is never blocked. Leaves `dst` open on the
// copy, which has no WAL of its own.
Status OnlineCopy(const std::string& src_path, const std::string& dst_path, Db* dst) {
  Db src;
  if (sqlite3_open_v2(src_path.c_str(), &src.db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK)
    return Error{"cannot open " + src_path + ": " + sqlite3_errmsg(src.db)};
  sqlite3_busy_timeout(src.db, 5000);
  if (sqlite3_open_v2(dst_path.c_str(), &dst->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                      nullptr) != SQLITE_OK)
    return Error{"cannot create " + dst_path + ": " + sqlite3_errmsg(dst->db)};
  sqlite3_backup* b = sqlite3_backup_init(dst->db, "main", src.db, "main");
  if (!b) return Error{"backup failed: " + std::string(sqlite3_errmsg(dst->db))};
  int rc;
  do {
    rc = sqlite3_backup_step(b, -1);
    if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) sqlite3_sleep(50);
  } while (rc == SQLITE_OK || rc == SQLITE_BUSY || rc == SQLITE_LOCKED);
  sqlite3_backup_finish(b);
  if (rc != SQLITE_DONE)
    return Error{"backup of " + src_path + " failed: " + std::string(sqlite3_errstr(rc))};
  // A self-contained file: no WAL beside it.
  sqlite3_exec(dst->db, "PRAGMA journal_mode=DELETE", nullptr, nullptr, nullptr);
  return OkStatus();
}

constexpr size_t kPiece = 256 * 1024;

// Appends the file at `path` to `db`'s _hearth_backup_files as `name`, in pieces.
Status Embed(sqlite3* db, const std::string& name, const std::string& path, bool* gone = nullptr) {
  // Opened first: a file deleted since it was listed is skipped (`gone`),
  // and an open file keeps its bytes even if it is deleted now.
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT && gone) {
    *gone = true;
    return OkStatus();
  }
  if (fd < 0) return Error{"cannot read " + path + ": " + strerror(errno)};
  struct stat sb;
  if (fstat(fd, &sb) != 0) {
    close(fd);
    return Error{"cannot read " + path};
  }
  uint64_t size = static_cast<uint64_t>(sb.st_size);
  if (sqlite3_exec(db,
                   "CREATE TABLE IF NOT EXISTS _hearth_backup_files (name TEXT PRIMARY KEY, data "
                   "BLOB NOT NULL)",
                   nullptr, nullptr, nullptr) != SQLITE_OK)
    return Error{std::string("backup failed: ") + sqlite3_errmsg(db)};
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db, "INSERT INTO _hearth_backup_files(name, data) VALUES (?1, zeroblob(?2))",
                     -1, &st, nullptr);
  sqlite3_bind_text(st, 1, name.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64(st, 2, static_cast<sqlite3_int64>(size));
  int rc = sqlite3_step(st);
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE) {
    close(fd);
    return Error{std::string("backup failed: ") + sqlite3_errmsg(db)};
  }
  sqlite3_blob* blob = nullptr;
  if (sqlite3_blob_open(db, "main", "_hearth_backup_files", "data", sqlite3_last_insert_rowid(db),
                        1, &blob) != SQLITE_OK) {
    close(fd);
    return Error{std::string("backup failed: ") + sqlite3_errmsg(db)};
  }
  std::string buf(kPiece, '\0');
  Status out = OkStatus();
  for (uint64_t off = 0; off < size;) {
    size_t n = size - off < kPiece ? static_cast<size_t>(size - off) : kPiece;
    ssize_t got = pread(fd, buf.data(), n, static_cast<off_t>(off));
    if (got != static_cast<ssize_t>(n) || sqlite3_blob_write(blob, buf.data(), static_cast<int>(n),
                                                             static_cast<int>(off)) != SQLITE_OK) {
      out = Error{"backup failed while copying " + name};
      break;
    }
    off += n;
  }
  close(fd);
  sqlite3_blob_close(blob);
  return out;
}

}  // namespace

bool SafeSegment(std::string_view s) {
  if (s.empty() || s.size() > 255 || s[0] == '.') return false;
  for (char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
          c == '-' || c == '_'))
      return false;
  return true;
}

// "apps/<file>.db" or "files/<site>/<collection>/<record>/<name>", each part
// a plain name: nothing a backup carries may land outside the data folder's
// apps/ and files/.
bool SafeExtraName(const std::string& name) {
  if (name.size() > 1200) return false;
  if (name.rfind("files/", 0) == 0) {
    std::string_view rest = std::string_view(name).substr(6);
    int parts = 0;
    while (true) {
      size_t slash = rest.find('/');
      if (!SafeSegment(rest.substr(0, slash))) return false;
      ++parts;
      if (slash == std::string_view::npos) break;
      rest.remove_prefix(slash + 1);
    }
    return parts == 4;
  }
  if (name.rfind("apps/", 0) != 0 || name.size() < 9 || name.size() > 300 ||
      name.substr(name.size() - 3) != ".db")
    return false;
  return SafeSegment(std::string_view(name).substr(5));
}

std::vector<BackupExtra> AppDatabases(const std::string& data_dir) {
  std::vector<BackupExtra> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(data_dir + "/apps", ec)) {
    std::string file = e.path().filename().string();
    if (e.is_regular_file(ec) && SafeExtraName("apps/" + file))
      out.push_back({"apps/" + file, e.path().string()});
  }
  std::sort(out.begin(), out.end(),
            [](const BackupExtra& a, const BackupExtra& b) { return a.name < b.name; });
  return out;
}

Status BackupDatabase(const std::string& db_path, const std::string& out_path,
                      const std::vector<BackupExtra>& extras, const std::string& files_dir) {
  if (!std::filesystem::exists(db_path)) return Error{"no database at " + db_path};
  std::string tmp = out_path + ".partial";
  std::filesystem::remove(tmp);
  Db dst;
  auto fail = [&](Status st) {
    sqlite3_close_v2(dst.db);
    dst.db = nullptr;
    std::filesystem::remove(tmp);
    return st;
  };
  if (Status st = OnlineCopy(db_path, tmp, &dst); !st.ok()) return fail(st);
  for (const auto& e : extras) {
    std::string part = out_path + ".extra.partial";
    std::filesystem::remove(part);
    {
      Db copy;
      Status st = OnlineCopy(e.path, part, &copy);
      if (st.ok())
        st = Inspect(copy.db, e.name).ok() ? OkStatus()
                                           : Status(Error{e.name + " failed its integrity check"});
      if (!st.ok()) {
        std::filesystem::remove(part);
        return fail(st);
      }
    }
    Status st = Embed(dst.db, e.name, part);
    std::filesystem::remove(part);
    if (!st.ok()) return fail(st);
  }
  if (!files_dir.empty()) {
    // Listed now, after the databases' snapshots. A walk error (a record's
    // folder removed under it) skips that folder, not the rest.
    std::vector<std::pair<std::string, std::string>> files;
    std::error_code ec;
    auto it = std::filesystem::recursive_directory_iterator(
        files_dir, std::filesystem::directory_options::skip_permission_denied, ec);
    for (; !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
      std::error_code fe;
      if (!it->is_regular_file(fe)) continue;
      std::string name = "files/" + std::filesystem::relative(it->path(), files_dir, fe).string();
      if (!fe && SafeExtraName(name)) files.emplace_back(name, it->path().string());
    }
    std::sort(files.begin(), files.end());
    for (const auto& [name, path] : files) {
      bool gone = false;
      if (Status st = Embed(dst.db, name, path, &gone); !st.ok()) return fail(st);
    }
  }
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

Result<SnapshotInfo> SnapshotDatabase(const std::string& src_path, const std::string& dst_path) {
  unlink(dst_path.c_str());  // a leftover of a killed run
  {
    Db dst;
    if (Status st = OnlineCopy(src_path, dst_path, &dst); !st.ok()) {
      unlink(dst_path.c_str());
      return st.error();
    }
  }
  if (Status st = SyncFile(dst_path); !st.ok()) return st.error();
  auto c = Connection::Open(dst_path, Connection::Mode::kReadOnly);
  if (!c.ok()) return c.error();
  SnapshotInfo info;
  auto digest = Digest(**c);
  if (!digest.ok()) return digest.error();
  info.digest = std::move(digest).value();
  auto has =
      (*c)->Prepare("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = '_hearth_stream'");
  if (!has.ok()) return has.error();
  Status s = OkStatus();
  if (has->Step(&s)) {
    info.streamed = true;
    auto q = (*c)->Prepare("SELECT last_index, last_time FROM _hearth_stream WHERE one = 1");
    if (!q.ok()) return q.error();
    if (q->Step(&s)) {
      info.last_index = static_cast<uint64_t>(q->Int(0));
      info.last_time_us = q->Int(1);
    }
  }
  if (!s.ok()) return s.error();
  struct stat sb;
  if (stat(dst_path.c_str(), &sb) == 0) info.size = static_cast<uint64_t>(sb.st_size);
  return info;
}

Result<int> CheckBackup(const std::string& path, int max_version) {
  if (!std::filesystem::is_regular_file(path)) return Error{"no backup file at " + path};
  Db db;
  if (sqlite3_open_v2(path.c_str(), &db.db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK)
    return Error{"cannot open " + path + ": " + sqlite3_errmsg(db.db)};
  auto version = Inspect(db.db, path);
  if (!version.ok()) return version.error();
  if (*version > max_version)
    return Error{path + " was written by a newer hearth (schema version " +
                 std::to_string(*version) + ")"};
  if (*version == 0) return Error{path + " is not a hearth backup (no schema)"};
  return version;
}

Status RestoreDatabase(const std::string& backup_path, const std::string& db_path,
                       int max_version) {
  auto version = CheckBackup(backup_path, max_version);
  if (!version.ok()) return version.error();
  std::string tmp = db_path + ".restoring";
  std::error_code ec;
  std::filesystem::copy_file(backup_path, tmp, std::filesystem::copy_options::overwrite_existing,
                             ec);
  if (ec) return Error{"cannot copy " + backup_path + ": " + ec.message()};
  if (Status s = SyncFile(tmp); !s.ok()) return s;
  // The old WAL belongs to the old database: it must not be replayed onto the restored one.
  std::filesystem::remove(db_path + "-wal", ec);
  std::filesystem::remove(db_path + "-shm", ec);
  // The databases it carries go back first (each replaced whole, its old
  // WAL dropped); hearth.db is replaced last and loses the carried copies.
  Db tdb;
  if (sqlite3_open_v2(tmp.c_str(), &tdb.db, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK)
    return Error{"cannot open " + tmp};
  std::string dir = std::filesystem::path(db_path).parent_path().string();
  if (dir.empty()) dir = ".";
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(tdb.db,
                         "SELECT rowid, name, length(data) FROM _hearth_backup_files ORDER BY name",
                         -1, &st, nullptr) == SQLITE_OK) {
    Status out = OkStatus();
    while (out.ok() && sqlite3_step(st) == SQLITE_ROW) {
      std::string name = reinterpret_cast<const char*>(sqlite3_column_text(st, 1));
      if (!SafeExtraName(name)) {
        out = Error{"the backup carries a file with an unsafe name: " + name};
        break;
      }
      std::string target = dir + "/" + name, part = target + ".restoring";
      std::filesystem::create_directories(std::filesystem::path(target).parent_path(), ec);
      sqlite3_blob* blob = nullptr;
      int fd = open(part.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
      if (fd < 0 || sqlite3_blob_open(tdb.db, "main", "_hearth_backup_files", "data",
                                      sqlite3_column_int64(st, 0), 0, &blob) != SQLITE_OK) {
        if (fd >= 0) close(fd);
        out = Error{"cannot restore " + name};
        break;
      }
      uint64_t size = static_cast<uint64_t>(sqlite3_column_int64(st, 2));
      std::string buf(kPiece, '\0');
      for (uint64_t off = 0; off < size;) {
        size_t n = size - off < kPiece ? static_cast<size_t>(size - off) : kPiece;
        if (sqlite3_blob_read(blob, buf.data(), static_cast<int>(n), static_cast<int>(off)) !=
                SQLITE_OK ||
            pwrite(fd, buf.data(), n, static_cast<off_t>(off)) != static_cast<ssize_t>(n)) {
          out = Error{"cannot restore " + name};
          break;
        }
        off += n;
      }
      sqlite3_blob_close(blob);
      close(fd);
      if (!out.ok()) break;
      if (Status s = SyncFile(part); !s.ok()) {
        out = s;
        break;
      }
      std::filesystem::remove(target + "-wal", ec);
      std::filesystem::remove(target + "-shm", ec);
      std::filesystem::rename(part, target, ec);
      if (ec) out = Error{"cannot replace " + target + ": " + ec.message()};
    }
    sqlite3_finalize(st);
    if (!out.ok()) return out;
    sqlite3_exec(tdb.db, "DROP TABLE _hearth_backup_files", nullptr, nullptr, nullptr);
  }
  sqlite3_close_v2(tdb.db);
  tdb.db = nullptr;
  if (Status s = SyncFile(tmp); !s.ok()) return s;
  std::filesystem::rename(tmp, db_path, ec);
  if (ec) return Error{"cannot replace " + db_path + ": " + ec.message()};
  return SyncFile(db_path);
}

}  // namespace hearth::store
