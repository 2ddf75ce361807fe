#include "cohort/plan/profile.h"

#include <ATen/ops/zeros_like.h>
#include <torch/autograd.h>

#include <algorithm>
#include <chrono>

#include "cohort/pipeline/partition.h"
#include "train/networks/network.h"
#include "util/middle_value.h"

namespace cohort {
namespace {

double tensor_bytes(const at::Tensor& t) { return double(t.numel()) * t.element_size(); }

// Each layer's output bytes per sample and parameter bytes, from one forward.
void measure_sizes(torch::nn::Sequential& model, at::Tensor x, MemberCost& cost) {
  torch::NoGradGuard no_grad;
  const double batch = double(x.size(0));
  for (const auto& layer : model->children()) {
    double params = 0;
    for (const at::Tensor& p : layer->parameters()) params += tensor_bytes(p);
    cost.layer_parameter_bytes.push_back(params);
  }
  for (auto it = model->begin(); it != model->end(); ++it) {
    x = it->forward(x);
    cost.layer_output_bytes.push_back(tensor_bytes(x) / batch);
  }
}

// The median time per sample of a forward without autograd (a stale copy's).
double time_inference(torch::nn::Sequential& model, const at::Tensor& sample, int repeats) {
  torch::NoGradGuard no_grad;
  std::vector<double> seconds;
  for (int r = 0; r <= repeats; ++r) {
    const auto start = std::chrono::steady_clock::now();
    model->forward(sample);
    const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
    if (r > 0) seconds.push_back(took.count());  // the first warms the allocator up
  }
  return middle_value(std::move(seconds)) / double(sample.size(0));
}

// The median wall time of the optimiser's step on gradients of ones.
double time_optimizer_step(Network& net, int repeats) {
  for (at::Tensor& p : net.parameters) p.mutable_grad() = at::zeros_like(p);
  std::vector<double> seconds;
  for (int r = 0; r <= repeats; ++r) {
    const auto start = std::chrono::steady_clock::now();
    net.optimizer->step();
    const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
    if (r > 0) seconds.push_back(took.count());  // the first allocates the state
  }
  return middle_value(std::move(seconds));
}

}  // namespace

double optimizer_state_factor(const NetworkConfig& network) {
  if (network.optimizer == "adam" || network.optimizer == "adamw") return 2;
  return network.momentum > 0 ? 1 : 0;
}

MemberCost profile_member(const Config& config, size_t index, const at::Tensor& sample,
                          int repeats) {
  Network net = make_network(config, index);
  const int64_t batch = sample.size(0);
  MemberCost cost;
  cost.name = net.config.name;
  // A quarter of the batch too: replicas and micro-batches run smaller ones,
  // which cost more per sample (each layer's call has a fixed part).
  const std::vector<double> whole = profile_layer_costs(net.model, sample, repeats);
  const int64_t small = batch / 4;
  if (small >= 1) {
    fit_layer_times(whole, double(batch),
                    profile_layer_costs(net.model, sample.slice(0, 0, small), repeats),
                    double(small), cost);
  } else {
    for (double s : whole) cost.layer_seconds.push_back(s / double(batch));
  }
  measure_sizes(net.model, sample, cost);
  cost.inference_seconds = time_inference(net.model, sample, repeats);
  cost.optimizer_state_factor = optimizer_state_factor(net.config);
  cost.step_overhead_seconds = time_optimizer_step(net, repeats);
  return cost;
}

}  // namespace cohort
