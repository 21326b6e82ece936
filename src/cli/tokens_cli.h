#pragma once
// Client verbs for API tokens: tokens (list), tokens add NAME [--scope]
// [--expires], tokens rm ID. Each reaches a running server (--server,
// --token) as deploy does; the list never shows a secret, and add prints the
// new token's secret once.
#include <CLI/CLI.hpp>
#include <memory>

namespace hearth::cli {

class TokensCli {
 public:
  void Register(CLI::App* app);
  // If one of its verbs was given: runs it and returns the exit code; -1 otherwise.
  int RunIfParsed();

  struct State;  // the parsed flags; defined in tokens_cli.cpp

 private:
  std::shared_ptr<State> s_;
};

}  // namespace hearth::cli
