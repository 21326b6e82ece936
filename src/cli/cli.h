#pragma once
// The command line: one verb per subcommand (serve, config, version). Every
// verb has --help; errors print one line on stderr and return non-zero.
namespace hearth {
int RunCli(int argc, char** argv);
}
