#include "server/offline.h"

#include <unistd.h>

#include "server/server.h"
#include "store/backup.h"
#include "store/control_schema.h"

namespace hearth {

Status BackupFolder(const std::string& data_dir, const std::string& out_path) {
  return store::BackupDatabase(data_dir + "/hearth.db", out_path, store::AppDatabases(data_dir),
                               data_dir + "/files");
}

Status RestoreFolder(const std::string& backup_path, const std::string& data_dir) {
  // A backup newer than this hearth's schema is refused as a corrupt one is.
  int latest = store::ControlMigrations().back().version;
  // The file before the folder: a bad file leaves everything as it was.
  if (auto v = store::CheckBackup(backup_path, latest); !v.ok()) return v.error();
  auto lock = LockDataDir(data_dir);
  if (!lock.ok()) return Error{lock.error().message + ": stop it before restoring"};
  Status st = store::RestoreDatabase(backup_path, data_dir + "/hearth.db", latest);
  close(*lock);
  return st;
}

}  // namespace hearth
