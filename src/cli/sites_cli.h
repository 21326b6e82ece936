#pragma once
// Client verbs for sites: deploy, sites (list/add/rm), versions, rollback,
// token create. Each reaches a running server (--server, --token).
#include <CLI/CLI.hpp>

namespace hearth::cli {

class SitesCli {
 public:
  void Register(CLI::App* app);
  // If one of its verbs was given: runs it and returns the exit code; -1 otherwise.
  int RunIfParsed();

  struct State;  // the parsed flags; defined in sites_cli.cpp

 private:
  std::shared_ptr<State> s_;
};

}  // namespace hearth::cli
