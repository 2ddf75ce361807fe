// Placeholder while the foundation lands.
#include "cli/commands.h"
#include "cohort/error.h"

namespace cohort::cli {
Runner add_eval_command(CLI::App& app) {
  app.add_subcommand("eval", "(being built)");
  return [] () -> int { throw Error("cohort eval is not built yet"); };
}
}  // namespace cohort::cli
