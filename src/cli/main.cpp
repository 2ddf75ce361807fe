// The `cohort` command: parses the subcommand and turns every cohort::Error into
// one line on stderr and its documented exit status (2 bad input, 1 other).
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <new>
#include <string>

#include <c10/util/Exception.h>
#include <c10/util/Logging.h>

#include "cli/commands.h"
#include "cohort/error.h"
#include "cohort/version.h"

namespace {

// Every failure is one line on stderr, whatever the library's text holds.
std::string first_line(const std::string& text) { return text.substr(0, text.find('\n')); }

}  // namespace

int main(int argc, char** argv) {
  // c10d logs each failed connection attempt, with a C++ backtrace, before the
  // error that Cohort reports in one line; TORCH_CPP_LOG_LEVEL still brings them back.
  if (!std::getenv("TORCH_CPP_LOG_LEVEL")) FLAGS_caffe2_log_level = 3;  // fatal only
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
  } catch (const cohort::Interrupted& e) {
    std::fprintf(stderr, "cohort: %s\n", e.what());
    return e.exit_code();
  } catch (const cohort::Error& e) {
    std::fprintf(stderr, "cohort: error: %s\n", first_line(e.what()).c_str());
    return e.exit_code();
  } catch (const c10::Error& e) {
    // libtorch's own checks carry a C++ backtrace: the user gets its first line.
    std::fprintf(stderr, "cohort: error: libtorch: %s\n",
                 first_line(e.what_without_backtrace()).c_str());
    return 1;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "cohort: error: out of memory: make the networks or the batch smaller\n");
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cohort: internal error: %s\n", first_line(e.what()).c_str());
    return 1;
  }
}
