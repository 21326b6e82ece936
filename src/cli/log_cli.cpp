#include "cli/log_cli.h"

#include <sys/stat.h>

#include <cstdio>
#include <string>

#include "base/clock.h"
#include "stream/segment.h"

namespace hearth::cli {

struct LogCli::State {
  std::string data = "./hearth-data";
  uint64_t from = 0;
  bool raw = false;
  CLI::App *log = nullptr, *dump = nullptr;
};

namespace {

const char* KindName(store::EntryKind kind) {
  switch (kind) {
    case store::EntryKind::kWrites:
      return "writes";
    case store::EntryKind::kMigration:
      return "migration";
    case store::EntryKind::kCreateDatabase:
      return "create-database";
    case store::EntryKind::kNoOp:
      return "no-op";
  }
  return "?";
}

const char* OpName(store::OpKind kind) {
  static const char* const kNames[] = {
      "?",           "changeset",        "ddl",      "blob-put",       "blob-delete", "file-put",
      "file-delete", "file-delete-tree", "sequence", "database-image", "migration"};
  auto i = static_cast<size_t>(kind);
  return i < sizeof kNames / sizeof kNames[0] ? kNames[i] : "?";
}

int Dump(const LogCli::State& s) {
  std::string wal = s.data + "/log/wal";
  struct stat st {};
  if (stat(wal.c_str(), &st) != 0) {
    fprintf(stderr, "hearth: no change-stream log in %s/log\n", s.data.c_str());
    return 1;
  }
  Status walked = stream::ForEachEntry(wal, s.from, UINT64_MAX, [&](const stream::LogEntry& e) {
    if (s.raw) {
      fwrite(e.bytes.data(), 1, e.bytes.size(), stdout);
      return true;
    }
    std::string line = std::to_string(e.view.index) + " " + FormatIso8601(e.view.commit_time_us) +
                       " " + std::string(e.view.database) + " " + KindName(e.view.kind);
    for (const auto& op : e.view.ops)
      line += std::string(" ") + OpName(op.kind) + ":" + std::to_string(op.payload.size());
    line += "\n";
    fputs(line.c_str(), stdout);
    return true;
  });
  fflush(stdout);
  if (!walked.ok()) {
    fprintf(stderr, "hearth: %s\n", walked.error().message.c_str());
    return 1;
  }
  return 0;
}

}  // namespace

void LogCli::Register(CLI::App* app) {
  s_ = std::make_shared<State>();
  s_->log = app->add_subcommand("log", "The change-stream log (DATA/log)");
  s_->log->group("");  // hidden: a tool for tests and debugging
  s_->log->require_subcommand(1);
  s_->dump = s_->log->add_subcommand(
      "dump", "Print the log's entries, one line each (index, time, database, kind, ops)");
  s_->dump->add_option("--data", s_->data, "data folder [default: ./hearth-data]");
  s_->dump->add_option("--from", s_->from, "first index to show [default: all]");
  s_->dump->add_flag("--raw", s_->raw, "write the entries' bytes to standard output instead");
}

int LogCli::RunIfParsed() {
  if (!s_->dump->parsed()) return -1;
  return Dump(*s_);
}

}  // namespace hearth::cli
