#pragma once
// Online backups of a SQLite database and restoring them.
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace hearth::store {

// A database a backup carries besides hearth.db: `name` is its path under the
// data folder ("apps/blog.example.com.db"), `path` where it is now.
struct BackupExtra {
  std::string name;
  std::string path;
};

// One plain name in a path a backup or a change-stream entry carries: 1-255
// of [A-Za-z0-9._-], not starting with '.', so it cannot climb or hide.
bool SafeSegment(std::string_view s);

// "apps/<file>.db" or "files/<site>/<collection>/<record>/<name>", each part a
// SafeSegment: nothing a backup carries may land outside the data folder's
// apps/ and files/. The change stream's entries name databases by this rule.
bool SafeExtraName(const std::string& name);

// The sites' app databases in `data_dir` (apps/*.db), for BackupDatabase.
std::vector<BackupExtra> AppDatabases(const std::string& data_dir);

// Copies the database at `db_path` to `out_path` with SQLite's online backup
// API: consistent even while a server writes to it. Each of `extras` is
// copied the same way and carried inside the backup file (one file to keep),
// as a blob in its table _hearth_backup_files, written in pieces. The copy is
// written to a temporary name, checked (PRAGMA integrity_check), synced and
// then renamed, so `out_path` is either a whole good backup or absent.
//
// `files_dir` (DATA/files, optional): the records' files, carried as
// "files/<site>/<collection>/<record>/<name>". They are listed after the
// databases are copied, so every file the copies name is there (a stored
// file never changes); one deleted meanwhile is simply not carried.
Status BackupDatabase(const std::string& db_path, const std::string& out_path,
                      const std::vector<BackupExtra>& extras = {},
                      const std::string& files_dir = "");

// A streaming backup's copy of one database (online backup API, as above):
// `dst_path` is written whole and synced, with no WAL beside it; what the
// copy holds is read back from it, so the manifest describes the file and
// not the live database that moved on meanwhile.
struct SnapshotInfo {
  bool streamed = false;    // it has a _hearth_stream table (a database mid-creation has not)
  uint64_t last_index = 0;  // _hearth_stream: the last entry it holds (0: none)
  int64_t last_time_us = 0;
  std::string digest;  // store::Digest
  uint64_t size = 0;
};
Result<SnapshotInfo> SnapshotDatabase(const std::string& src_path, const std::string& dst_path);

// Checks that `path` is an intact SQLite database whose schema version is at
// most `max_version`. Returns its version.
Result<int> CheckBackup(const std::string& path, int max_version);

// Replaces `db_path` with a copy of `backup_path` (checked first), and writes
// back every database the backup carries, beside it (each replaced whole, its
// old WAL dropped). The caller holds the data folder's lock, so no server uses
// the databases meanwhile.
Status RestoreDatabase(const std::string& backup_path, const std::string& db_path, int max_version);

}  // namespace hearth::store
