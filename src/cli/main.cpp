// The `cohort` executable: the command line with the zoo and the built-in data
// sources, nothing registered.
#include "cohort/cli.h"

int main(int argc, char** argv) { return cohort::run_command_line(argc, argv); }
