// Cohort's command line, callable from a program of one's own: after it has
// registered its models and datasets (cohort/registry.h), a user's main() returns
// run_command_line(argc, argv) and gets `train`, `eval`, `report` and `launch`,
// with configs that name what it registered, and `--help` that lists them.
// `train --nproc N` starts this same program N times.
#pragma once

namespace cohort {

// Parses argv[1..] as a subcommand and runs it. Returns the exit status: 0
// success, 2 bad input (one line on stderr says what and how to fix it), 1 any
// other failure, 128 + N stopped by signal N. Never throws.
int run_command_line(int argc, char** argv);

}  // namespace cohort
