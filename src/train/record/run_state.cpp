#include "train/record/run_state.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "cohort/error.h"
#include "cohort/pbt.h"
#include "util/json_error.h"

namespace cohort {
namespace {

void restore_hyperparameters(Network& net, const nlohmann::json& saved) {
  net.config.lr = saved.at("lr");
  net.config.momentum = saved.at("momentum");
  net.config.weight_decay = saved.at("weight_decay");
  apply_hyperparameters(*net.optimizer, {{"lr", net.config.lr},
                                         {"momentum", net.config.momentum},
                                         {"weight_decay", net.config.weight_decay}});
}

}  // namespace

TrainingState run_state(const std::vector<Network>& nets, const Position& at,
                        const std::string& config_text, const std::string& engine_json) {
  TrainingState state;
  state.step = at.step;
  state.epoch = at.epoch;
  state.batch_in_epoch = at.batch;
  state.config_toml = config_text;
  // PBT changes hyperparameters during the run; a resume must start from them.
  nlohmann::json hyperparameters = nlohmann::json::array();
  for (const auto& n : nets) {
    state.networks.push_back(network_state(n));
    hyperparameters.push_back({{"lr", n.config.lr},
                               {"momentum", n.config.momentum},
                               {"weight_decay", n.config.weight_decay}});
  }
  state.extra_json = nlohmann::json{{"hyperparameters", hyperparameters},
                                    {"engine", nlohmann::json::parse(engine_json)}}
                         .dump();
  return state;
}

Position restore_run(const std::string& latest, std::vector<Network>& nets,
                     std::string& engine_json) {
  const TrainingState state = load_checkpoint(latest);
  if (state.networks.size() != nets.size()) {
    throw InputError(fmt::format("{}: holds {} networks, the config has {}", latest,
                                 state.networks.size(), nets.size()));
  }
  try {
    const auto extra = nlohmann::json::parse(state.extra_json);
    if (extra.contains("engine")) engine_json = extra["engine"].dump();
    for (size_t i = 0; i < nets.size(); ++i) {
      load_network_state(nets[i], state.networks[i], latest);
      if (extra.contains("hyperparameters"))
        restore_hyperparameters(nets[i], extra["hyperparameters"].at(i));
    }
  } catch (const nlohmann::json::exception& e) {
    throw InputError(fmt::format("{}: corrupt manifest.json: {}", latest, describe_json_error(e)));
  }
  return {state.step, state.epoch, state.batch_in_epoch};
}

}  // namespace cohort
