#pragma once
// The hidden `hearth log dump` verb: reads a data folder's change-stream log
// (DATA/log, stream/log.h) and prints one line per entry (index, commit time,
// database, kind, and each op's kind and payload size), or with --raw writes
// the entries' bytes as they are to standard output, for another node or a
// test to feed on. It only reads, so it works beside a running server (it
// stops before an entry the server is still writing).
#include <CLI/CLI.hpp>
#include <memory>

namespace hearth::cli {

class LogCli {
 public:
  void Register(CLI::App* app);
  // If one of its verbs was given: runs it and returns the exit code; -1 otherwise.
  int RunIfParsed();

  struct State;  // the parsed flags; defined in log_cli.cpp

 private:
  std::shared_ptr<State> s_;
};

}  // namespace hearth::cli
