#pragma once
// Client verbs for the data API: collections (list, show, create, set, rm).
// Each reaches a running server (--server, --token), like deploy.
#include <CLI/CLI.hpp>
#include <memory>

namespace hearth::cli {

class DataCli {
 public:
  void Register(CLI::App* app);
  // If one of its verbs was given: runs it and returns the exit code; -1 otherwise.
  int RunIfParsed();

  struct State;  // the parsed flags; defined in data_cli.cpp

 private:
  std::shared_ptr<State> s_;
};

}  // namespace hearth::cli
