#pragma once
// Client verbs for backup targets: `hearth backups check --to URL` puts a
// small probe object under the target's prefix, lists it, reads it back and
// deletes it, one line per step, and ends with "backup target OK"; on a
// failure it prints one line naming the step and what S3 (or the folder)
// said, and exits non-zero. S3's settings come from --backup-endpoint,
// --backup-region, --backup-key-id and --backup-secret, or the
// HEARTH_BACKUP_* environment (flags win); the secret is never printed.
// `hearth backups list --from URL` says what a streaming backup holds, and
// `hearth restore --from URL [--at T | --index N] --data DIR` rebuilds a
// data folder from it (stream/restore.h).
#include <CLI/CLI.hpp>
#include <memory>
#include <string>

namespace hearth::cli {

class BackupsCli {
 public:
  void Register(CLI::App* app);
  // `hearth restore`'s streaming form: --from URL [--at T | --index N]
  // [--force], and the S3 flags.
  void RegisterRestore(CLI::App* restore);
  // If `restore --from` was given: runs it and returns the exit code; -1 otherwise.
  int RunRestoreIfFrom(const std::string& data_dir, bool file_given);
  // If one of its verbs was given: runs it and returns the exit code; -1 otherwise.
  int RunIfParsed();

  struct State;  // the parsed flags; defined in backups_cli.cpp

 private:
  std::shared_ptr<State> s_;
};

}  // namespace hearth::cli
