#pragma once
// The CLI's offline verbs on a data folder, done by the server library so the
// CLI never opens the store itself (the server library knows the folder's
// layout and lock):
//   BackupFolder   hearth.db, the sites' app databases and the records'
//                  files into one backup file; safe while a server runs on
//                  the folder (SQLite's online backup).
//   RestoreFolder  a backup written back into a stopped folder: the file is
//                  checked first, then the folder's lock taken (refused while
//                  a server holds it), so nothing changes on a bad file or a
//                  running folder.
// Errors are one line, ready for the CLI to print.
#include <string>

#include "base/result.h"

namespace hearth {

Status BackupFolder(const std::string& data_dir, const std::string& out_path);
Status RestoreFolder(const std::string& backup_path, const std::string& data_dir);

}  // namespace hearth
