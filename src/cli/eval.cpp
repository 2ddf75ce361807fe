// cohort eval CHECKPOINT [--data DIR]: test-split accuracy (or error) of a saved run.
// cohort eval CONFIG.toml [--set k=v]...: of the networks a config starts from
// (their network.N.init state_dicts, or the seeded initialisation).
#include <fmt/format.h>

#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cohort/checkpoint.h"
#include "cohort/config.h"
#include "cohort/data.h"
#include "cohort/error.h"
#include "cohort/evaluate.h"
#include "train/checks/preflight.h"
#include "train/networks/network.h"
#include "train/process/threads.h"
#include "train/record/test_scores.h"

namespace cohort::cli {
namespace {

struct EvalArgs {
  std::string checkpoint;
  std::vector<std::string> overrides;
  std::string data;
};

bool is_config_file(const std::string& path) {
  return std::filesystem::is_regular_file(path) &&
         std::filesystem::path(path).extension() == ".toml";
}

// The config is stored in the checkpoint itself, so a checkpoint evaluates on
// its own; errors name the checkpoint it came from.
Config config_of(const TrainingState& state, const std::string& checkpoint) {
  return parse_config_text(state.config_toml, checkpoint + " (its config)", {});
}

int run_eval(const EvalArgs& args) {
  const bool from_config = is_config_file(args.checkpoint);
  if (!from_config && !args.overrides.empty())
    throw InputError("--set applies to a CONFIG.toml; a checkpoint is evaluated as it was saved");
  const TrainingState state = from_config ? TrainingState{} : load_checkpoint(args.checkpoint);
  Config config = from_config ? load_config(args.checkpoint, args.overrides)
                              : config_of(state, args.checkpoint);
  configure_threads(config.train.threads);
  if (!args.data.empty())
    (config.data.format == "idx" ? config.data.path : config.data.test) = args.data;
  // The training split too: the test split is read in its terms (classes, normalisation).
  const Splits splits = load_splits(config.data);
  const Dataset& test = *splits.test;
  config = fit_to_data(config, splits.train->spec());
  std::vector<Network> networks;
  for (size_t i = 0; i < config.networks.size(); ++i) {
    Network net = make_network(config, i);
    if (from_config) {
      load_initial_weights(net, i);
    } else if (i >= state.networks.size()) {
      throw InputError(
          fmt::format("{}: no state for network '{}'", args.checkpoint, net.config.name));
    } else {
      load_network_state(net, state.networks[i], args.checkpoint);
    }
    check_network_accepts(net, test, i);
    networks.push_back(std::move(net));
  }
  // The ensemble is the cohort's: control networks stand apart, as in training.
  std::vector<torch::nn::Sequential> models = models_of(networks);
  const CohortEvaluation result = evaluate_cohort(models, cooperating(networks), test);
  const Task task = test.spec().task;
  auto scores = [task](const Evaluation& e) { return test_scores(task, e.accuracy, e.loss); };
  nlohmann::json nets = nlohmann::json::array();
  for (size_t i = 0; i < networks.size(); ++i) {
    nlohmann::json net{{"name", networks[i].config.name},
                       {"model", networks[i].config.model.name},
                       {"control", !networks[i].config.cooperate}};
    net.update(scores(result.networks[i]));
    nets.push_back(net);
  }
  nlohmann::json out = {{from_config ? "config" : "checkpoint", args.checkpoint},
                        {"task", task_name(task)},
                        {"step", state.step},
                        {"networks", nets}};
  if (result.ensemble) out["ensemble"] = scores(*result.ensemble);
  std::cout << out.dump() << std::endl;
  return 0;
}

}  // namespace

Runner add_eval_command(CLI::App& app) {
  auto args = std::make_shared<EvalArgs>();
  auto* cmd = app.add_subcommand("eval",
                                 "Evaluate a checkpoint (or a run folder's newest), or "
                                 "the networks a CONFIG.toml starts from, on the test "
                                 "split; prints JSON");
  cmd->add_option("checkpoint", args->checkpoint,
                  "Checkpoint folder, run folder, or a .toml config (its network.N.init "
                  "weights)")
      ->required();
  cmd->add_option("--set", args->overrides, "With a config: override a key (repeatable)");
  cmd->add_option("--data", args->data,
                  "The test split to evaluate on: a folder of IDX files, or for other data.format "
                  "values the data.test path (default: the run's data)");
  return [args] { return run_eval(*args); };
}

}  // namespace cohort::cli
