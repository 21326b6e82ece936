#pragma once
// Restore from a streaming backup: a data folder rebuilt from a target's
// snapshot and the entries after it, up to the latest entry, an index or a
// moment. Whole or nothing: the work happens in a folder beside the
// destination, checked at every step (each object's SHA-256 or checksums,
// each entry's CRCs, each database's integrity), and only a finished result
// is moved into place. A hole in the entries, a damaged segment or an entry
// that does not apply is an error naming what is wrong; there is no partial
// restore.
#include <cstdint>
#include <functional>
#include <string>

#include "base/result.h"
#include "s3/object_store.h"
#include "stream/backup_view.h"

namespace hearth::stream {

struct RestoreOptions {
  RestoreTarget target;
  std::string data_dir;  // where the restored folder goes
  // An existing, non-empty data_dir is moved aside to
  // <data_dir>.before-restore-<time> (only with force; else refused).
  bool force = false;
  std::function<void(const std::string&)> progress;  // one line per step
};

struct RestoreResult {
  std::string generation;
  uint64_t snapshot_index = 0;
  uint64_t index = 0;       // the last entry the restored databases hold
  int64_t time_us = 0;      // its commit time
  uint64_t entries = 0;     // entries applied after the snapshot
  std::string moved_aside;  // where the old folder went ("" when there was none)
};

Result<RestoreResult> Restore(s3::ObjectStore& target, const RestoreOptions& options);

// `hearth backups list`: what a target holds, for people (text) and programs.
std::string DescribeBackup(const BackupView& view);
std::string DescribeBackupJson(const BackupView& view);

}  // namespace hearth::stream
