#pragma once
// Client verbs for the console's admin users: admins (list), admins add,
// admins passwd, admins rm. Each reaches a running server (--server,
// --token), like deploy. Passwords are read from the terminal without echo,
// or as one line of standard input when it is not a terminal.
#include <CLI/CLI.hpp>
#include <memory>

namespace hearth::cli {

class AdminsCli {
 public:
  void Register(CLI::App* app);
  // If one of its verbs was given: runs it and returns the exit code; -1 otherwise.
  int RunIfParsed();

  struct State;  // the parsed flags; defined in admins_cli.cpp

 private:
  std::shared_ptr<State> s_;
};

}  // namespace hearth::cli
