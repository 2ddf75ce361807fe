#include "train/networks/network.h"

#include <fmt/format.h>

#include "cohort/error.h"
#include "cohort/models.h"
#include "cohort/network_state.h"
#include "cohort/optim.h"
#include "cohort/state_dict.h"

namespace cohort {

Network make_network(const Config& config, size_t index, c10::Device device) {
  Network net;
  net.config = config.networks.at(index);
  net.seed = net.config.seed >= 0 ? uint64_t(net.config.seed) : config.train.seed + index;
  torch::manual_seed(net.seed);
  net.model = build_model(net.config.model);
  net.model->to(device);
  net.parameters = net.model->parameters();
  net.optimizer = make_optimizer(net.config, net.parameters);
  return net;
}

std::vector<torch::nn::Sequential> models_of(const std::vector<Network>& nets) {
  std::vector<torch::nn::Sequential> models;
  for (const auto& n : nets) models.push_back(n.model);
  return models;
}

std::vector<ModelSpec> specs_of(const std::vector<Network>& nets) {
  std::vector<ModelSpec> specs;
  for (const auto& n : nets) specs.push_back(n.config.model);
  return specs;
}

std::vector<bool> cooperating(const std::vector<Network>& nets) {
  std::vector<bool> out;
  for (const auto& n : nets) out.push_back(n.config.cooperate);
  return out;
}

void load_initial_weights(Network& net, size_t index) {
  const std::string& path = net.config.init;
  if (path.empty()) return;
  NamedTensors state;
  try {
    state = read_state_dict(path);
  } catch (const InputError& e) {
    throw InputError(fmt::format("network.{}.init: {}", index, e.what()));
  }
  load_state_dict(
      *net.model, state,
      fmt::format("network.{}.init = {} (model {})", index, path, net.config.model.name));
}

NetworkState network_state(const Network& net) {
  return {net.config.name, net.config.model.name, capture_state(*net.model, *net.optimizer)};
}

void load_network_state(Network& net, const NetworkState& state, const std::string& source) {
  if (state.model != net.config.model.name) {
    throw InputError(
        fmt::format("{}: network '{}' was saved as model '{}', the config asks for "
                    "'{}'",
                    source, net.config.name, state.model, net.config.model.name));
  }
  restore_state(*net.model, *net.optimizer, state.tensors,
                fmt::format("{} (network '{}')", source, net.config.name));
}

}  // namespace cohort
