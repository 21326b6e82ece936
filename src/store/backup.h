#pragma once
// Online backups of a SQLite database and restoring them.
#include <string>

#include "base/result.h"

namespace hearth::store {

// Copies the database at `db_path` to `out_path` with SQLite's online backup
// API: consistent even while a server writes to it. The copy is written to a
// temporary name, checked (PRAGMA integrity_check), synced and then renamed,
// so `out_path` is either a whole good backup or absent.
Status BackupDatabase(const std::string& db_path, const std::string& out_path);

// Checks that `path` is an intact SQLite database whose schema version is at
// most `max_version`. Returns its version.
Result<int> CheckBackup(const std::string& path, int max_version);

// Replaces `db_path` with a copy of `backup_path` (checked first). The caller
// holds the data folder's lock, so no server uses the database meanwhile.
Status RestoreDatabase(const std::string& backup_path, const std::string& db_path, int max_version);

}  // namespace hearth::store
