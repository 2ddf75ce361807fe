// The `cohort` command: parses the subcommand and turns every cohort::Error into
// one line on stderr and its documented exit status (2 bad input, 1 other).
#include <cstdio>
#include <exception>

#include "cli/commands.h"
#include "cohort/error.h"
#include "cohort/version.h"

int main(int argc, char** argv) {
  CLI::App app{"Cohort: train many neural networks at once, in parallel, learning from each other",
               "cohort"};
  app.set_version_flag("--version", [] { return cohort::describe(cohort::build_info()); });
  app.require_subcommand(1);
  app.fallthrough(false);

  std::vector<std::pair<CLI::App*, cohort::cli::Runner>> runners;
  auto add = [&](cohort::cli::Runner (*adder)(CLI::App&)) {
    auto runner = adder(app);
    runners.emplace_back(app.get_subcommands({}).back(), std::move(runner));
  };
  add(cohort::cli::add_train_command);
  add(cohort::cli::add_eval_command);
  add(cohort::cli::add_launch_command);
  add(cohort::cli::add_report_command);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "cohort: %s (see cohort --help)\n", e.what());
    return 2;
  }
  try {
    for (auto& [sub, run] : runners)
      if (sub->parsed()) return run();
    return 2;
  } catch (const cohort::Error& e) {
    std::fprintf(stderr, "cohort: error: %s\n", e.what());
    return e.exit_code();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cohort: internal error: %s\n", e.what());
    return 1;
  }
}
