// Placeholder while the foundation lands.
#include "cli/commands.h"
#include "cohort/error.h"

namespace cohort::cli {
Runner add_train_command(CLI::App& app) {
  app.add_subcommand("train", "(being built)");
  return [] () -> int { throw Error("cohort train is not built yet"); };
}
}  // namespace cohort::cli
