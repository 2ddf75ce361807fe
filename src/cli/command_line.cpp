// The `cohort` command line (cohort/cli.h): parses the subcommand and turns every
// cohort::Error into one line on stderr and its documented exit status (2 bad
// input, 1 other).
#include <c10/util/Exception.h>
#include <c10/util/Logging.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cstdlib>
#include <exception>
#include <filesystem>
#include <new>
#include <string>

#include "cli/commands.h"
#include "cohort/cli.h"
#include "cohort/data.h"
#include "cohort/error.h"
#include "cohort/models.h"
#include "cohort/optim.h"
#include "cohort/version.h"
#include "launch/elastic_plan.h"

namespace {

// Every failure is one line on stderr, whatever the library's text holds.
std::string first_line(const std::string& text) { return text.substr(0, text.find('\n')); }

// What a config may name: the zoo and the built-in formats, and whatever the
// program registered.
std::string names_footer() {
  return fmt::format(
      "Models (network.N.model): {}\nData (data.format): {}\nOptimizers (network.N.optimizer): {}",
      fmt::join(cohort::model_names(), ", "), fmt::join(cohort::data_format_names(), ", "),
      fmt::join(cohort::optimizer_names(), ", "));
}

}  // namespace

int cohort::run_command_line(int argc, char** argv) {
  const std::string program =
      argc > 0 ? std::filesystem::path(argv[0]).filename().string() : std::string("cohort");
  // c10d logs each failed connection attempt, with a C++ backtrace, before the
  // error that Cohort reports in one line; TORCH_CPP_LOG_LEVEL still brings them back.
  if (!std::getenv("TORCH_CPP_LOG_LEVEL")) FLAGS_caffe2_log_level = 3;  // fatal only
  CLI::App app{"Cohort: train many neural networks at once, in parallel, learning from each other",
               program};
  app.footer(names_footer());
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
  add(cohort::cli::add_plan_command);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    fmt::print(stderr, "{0}: {1} (see {0} --help)\n", program, e.what());
    return 2;
  }
  try {
    for (auto& [sub, run] : runners)
      if (sub->parsed()) return run();
    return 2;
  } catch (const cohort::Interrupted& e) {
    fmt::print(stderr, "{}: {}\n", program, e.what());
    return e.exit_code();
  } catch (const cohort::Error& e) {
    // A planned stop for the launcher is not an error.
    const bool reform = e.exit_code() == cohort::kReformExitCode;
    fmt::print(stderr, "{}: {}{}\n", program, reform ? "" : "error: ", first_line(e.what()));
    return e.exit_code();
  } catch (const c10::Error& e) {
    // libtorch's own checks carry a C++ backtrace: the user gets its first line.
    fmt::print(stderr, "{}: error: libtorch: {}\n", program,
               first_line(e.what_without_backtrace()));
    return 1;
  } catch (const std::bad_alloc&) {
    fmt::print(stderr, "{}: error: out of memory: make the networks or the batch smaller\n",
               program);
    return 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "{}: internal error: {}\n", program, first_line(e.what()));
    return 1;
  }
}
