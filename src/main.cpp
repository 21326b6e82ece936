// hearth: hands argv to the CLI.
#include "cli/cli.h"

int main(int argc, char** argv) {
  return hearth::RunCli(argc, argv);
}
