// cohort train [CONFIG] [--set k=v]... [--out DIR] [--resume RUN_DIR]
#include <ctime>
#include <filesystem>
#include <iostream>

#include <fmt/format.h>

#include "cli/commands.h"
#include "cohort/config.h"
#include "cohort/error.h"
#include "cohort/trainer.h"

namespace cohort::cli {
namespace {

struct TrainArgs {
  std::string config_path;
  std::vector<std::string> overrides;
  std::string out;
  std::string resume;
  bool quiet = false;
};

std::string default_run_dir() {
  std::time_t now = std::time(nullptr);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", std::localtime(&now));
  return fmt::format("runs/{}-{}", stamp, ::getpid());
}

int run_train(const TrainArgs& args) {
  RunOptions options;
  std::string config_path = args.config_path;
  if (!args.resume.empty()) {
    if (!config_path.empty()) {
      throw InputError("--resume takes its config from the run folder: drop the CONFIG argument");
    }
    config_path = args.resume + "/config.toml";
    if (!std::filesystem::exists(config_path)) {
      throw InputError(fmt::format("{} is not a run folder (no config.toml)", args.resume));
    }
    options.run_dir = args.resume;
    options.resume = true;
  } else {
    options.run_dir = args.out.empty() ? default_run_dir() : args.out;
  }
  options.progress = !args.quiet;
  const Config config = load_config(config_path, args.overrides);
  const RunSummary summary = train(config, options);
  // The last line on stdout is the machine-readable summary.
  std::cout << summary.to_json() << std::endl;
  return 0;
}

}  // namespace

Runner add_train_command(CLI::App& app) {
  auto args = std::make_shared<TrainArgs>();
  auto* cmd = app.add_subcommand("train", "Train the networks a config describes (default: the "
                                          "embedded cohort on Fashion-MNIST)");
  cmd->add_option("config", args->config_path, "TOML config file (optional)")->check(CLI::ExistingFile);
  cmd->add_option("--set", args->overrides, "Override a config key, e.g. --set train.epochs=1 "
                                            "--set network.0.model=mlp (repeatable)");
  cmd->add_option("--out", args->out, "Run folder (default runs/<time>-<pid>)");
  cmd->add_option("--resume", args->resume, "Continue the run in this folder from its newest "
                                            "checkpoint");
  cmd->add_flag("--quiet", args->quiet, "No progress display (the JSON summary still prints)");
  cmd->footer("Prints progress on stderr; the last line on stdout is a JSON summary.\n"
              "Exit status: 0 success, 2 bad input, 1 other failure.");
  return [args] { return run_train(*args); };
}

}  // namespace cohort::cli
