// One member of a run: its configuration, model and optimiser.
#pragma once

#include <torch/nn/modules/container/sequential.h>
#include <torch/optim/optimizer.h>

#include <memory>
#include <vector>

#include "cohort/checkpoint.h"
#include "cohort/config.h"

namespace cohort {

struct Network {
  NetworkConfig config;
  uint64_t seed = 0;
  torch::nn::Sequential model{nullptr};
  std::unique_ptr<torch::optim::Optimizer> optimizer;
  std::vector<at::Tensor> parameters;
};

// Builds network `index` of the config with its own seed, so every member's
// initialisation is reproducible on its own, and moves it to `device` before its
// optimiser is made. The weights are drawn on the CPU, so they are the same on
// every device.
Network make_network(const Config& config, size_t index, c10::Device device = c10::kCPU);

// The networks' models, in order (shared, not copied).
std::vector<torch::nn::Sequential> models_of(const std::vector<Network>& nets);

// The networks' architectures, in order.
std::vector<ModelSpec> specs_of(const std::vector<Network>& nets);

// Whether each network takes part in the cohort's method (false: a control).
std::vector<bool> cooperating(const std::vector<Network>& nets);

// Replaces the seeded weights with the state_dict of net.config.init (PyTorch's
// torch.save(model.state_dict(), path)); nothing when it is empty. InputError
// "network.<index>.init = <path>: <first mismatch>" when the names or shapes differ.
void load_initial_weights(Network& net, size_t index);

NetworkState network_state(const Network& net);
void load_network_state(Network& net, const NetworkState& state, const std::string& source);

}  // namespace cohort
