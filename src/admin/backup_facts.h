#pragma once
// What the console's overview shows of the streaming backup (--backup-to):
// the server fills it from the uploader's figures when the page is drawn
// (the console's layer cannot see the uploader). Nothing here is secret:
// the target is its URL (s3://bucket/prefix or file:///path), never a key.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

namespace hearth::admin {

struct BackupFacts {
  std::string target;            // where it goes, without credentials
  std::string state;             // ok | behind | failing (as the health answer says)
  std::string generation;        // the generation being uploaded ("" before the first)
  uint64_t uploaded_index = 0;   // the last entry the target holds
  int64_t uploaded_time_us = 0;  // its commit time (0: none yet)
  uint64_t lag_entries = 0;      // entries in the local log not at the target
  double lag_seconds = 0;        // commit time of the newest minus the uploaded
  int64_t last_snapshot_us = 0;  // 0: none yet
  std::string last_error;        // of the last pass ("" when it worked)
};

// Null, or answering nullopt: no streaming backup ("off").
using BackupFactsSource = std::function<std::optional<BackupFacts>()>;

}  // namespace hearth::admin
