// Placeholder until the launcher lands (issue 3): it refuses clearly.
#include "cli/commands.h"
#include "cohort/error.h"

namespace cohort::cli {
Runner add_launch_command(CLI::App& app) {
  app.add_subcommand("launch", "Start N local worker processes (not built yet)");
  return [] () -> int { throw Error("cohort launch is not built yet"); };
}
}  // namespace cohort::cli
