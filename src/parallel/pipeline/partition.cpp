#include "cohort/pipeline/partition.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <string>

#include "cohort/error.h"
#include "util/middle_value.h"

namespace cohort {
namespace {

void check_stage_count(int64_t layers, int stages) {
  if (stages < 1) {
    throw InputError("pipeline: " + std::to_string(stages) +
                     " stages requested; set [parallel] pipeline to at least 1");
  }
  if (stages > layers) {
    throw InputError("pipeline: " + std::to_string(stages) +
                     " stages requested but the model has " + std::to_string(layers) +
                     " layers; every stage needs a layer, so use at most " +
                     std::to_string(layers) + " stages (or a deeper model)");
  }
}

}  // namespace

PartitionMethod parse_partition_method(const std::string& name) {
  if (name == "uniform") return PartitionMethod::Uniform;
  if (name == "params") return PartitionMethod::Params;
  if (name == "time") return PartitionMethod::Time;
  throw InputError("pipeline: unknown partition method '" + name +
                   "'; choose one of uniform, params, time");
}

std::string to_string(PartitionMethod method) {
  switch (method) {
    case PartitionMethod::Uniform:
      return "uniform";
    case PartitionMethod::Params:
      return "params";
    case PartitionMethod::Time:
      return "time";
  }
  return "?";
}

Partition partition_uniform(int64_t layers, int stages) {
  check_stage_count(layers, stages);
  Partition p{{0}};
  const int64_t base = layers / stages, extra = layers % stages;
  for (int s = 0; s < stages; ++s) p.bounds.push_back(p.bounds.back() + base + (s < extra ? 1 : 0));
  return p;
}

Partition balance_costs(const std::vector<double>& costs, int stages) {
  const auto n = static_cast<int64_t>(costs.size());
  check_stage_count(n, stages);
  for (size_t i = 0; i < costs.size(); ++i) {
    if (!std::isfinite(costs[i]) || costs[i] < 0) {
      throw InputError("pipeline: layer " + std::to_string(i) + " has cost " +
                       std::to_string(costs[i]) + "; costs must be finite and non-negative");
    }
  }
  // Every segment cost is a difference of prefix sums, here and in the greedy cut
  // below, so both see bit-identical numbers and the bound is always reachable.
  std::vector<double> prefix(n + 1, 0.0);
  for (int64_t i = 0; i < n; ++i) prefix[i + 1] = prefix[i] + costs[i];
  auto cost = [&](int64_t a, int64_t b) { return prefix[b] - prefix[a]; };

  // best[k][i]: smallest achievable max stage cost of the first i layers in k stages.
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<std::vector<double>> best(stages + 1, std::vector<double>(n + 1, inf));
  best[0][0] = 0;
  for (int k = 1; k <= stages; ++k) {
    for (int64_t i = k; i <= n; ++i) {
      for (int64_t j = k - 1; j < i; ++j) {
        best[k][i] = std::min(best[k][i], std::max(best[k - 1][j], cost(j, i)));
      }
    }
  }
  const double bound = best[stages][n];

  // Fill each stage as far as the optimal bound allows while leaving one layer for
  // every later stage. Filling greedily never falls behind any optimal cut, so the
  // last stage also stays within the bound.
  Partition p{{0}};
  for (int s = 0; s < stages - 1; ++s) {
    const int64_t start = p.bounds.back();
    const int64_t last_allowed = n - (stages - s - 1);
    int64_t end = start + 1;
    while (end < last_allowed && cost(start, end + 1) <= bound) ++end;
    p.bounds.push_back(end);
  }
  p.bounds.push_back(n);
  return p;
}

std::vector<double> stage_costs(const std::vector<double>& costs, const Partition& partition) {
  std::vector<double> out;
  for (int s = 0; s < partition.stages(); ++s) {
    double sum = 0;
    for (int64_t i = partition.begin(s); i < partition.end(s); ++i) sum += costs.at(i);
    out.push_back(sum);
  }
  return out;
}

std::vector<double> parameter_costs(const torch::nn::Sequential& model) {
  std::vector<double> out;
  for (const auto& layer : model->children()) {
    double count = 0;
    for (const auto& p : layer->parameters()) count += static_cast<double>(p.numel());
    out.push_back(count);
  }
  return out;
}

std::vector<double> profile_layer_costs(torch::nn::Sequential& model, const at::Tensor& sample,
                                        int repeats) {
  if (!sample.defined()) {
    throw InputError("pipeline: partition method 'time' needs a sample batch to time layers on");
  }
  if (repeats < 1) throw InputError("pipeline: profiling needs at least one repeat");
  using clock = std::chrono::steady_clock;
  // Timing runs must not train: batch-norm statistics are put back afterwards.
  std::vector<at::Tensor> buffers_before;
  for (const auto& b : model->buffers()) buffers_before.push_back(b.clone());
  std::vector<double> out;
  at::Tensor x = sample.detach();
  for (auto it = model->begin(); it != model->end(); ++it) {
    // The stage input needs a gradient in training (it is sent upstream), so the
    // timed backward includes the input gradient as it will in the pipeline.
    at::Tensor input = x.detach();
    if (input.is_floating_point()) input.requires_grad_(true);
    at::Tensor output;
    std::vector<double> times;
    for (int r = 0; r <= repeats; ++r) {
      const auto t0 = clock::now();
      output = it->forward<at::Tensor>(input);
      if (output.requires_grad()) output.backward(torch::ones_like(output));
      const auto t1 = clock::now();
      if (r > 0) times.push_back(std::chrono::duration<double>(t1 - t0).count());  // r=0 warms up
    }
    out.push_back(middle_value(std::move(times)));
    x = output.detach();
  }
  model->zero_grad();
  torch::NoGradGuard no_grad;
  size_t i = 0;
  for (auto& b : model->buffers()) b.copy_(buffers_before[i++]);
  return out;
}

Partition partition_model(torch::nn::Sequential& model, int stages, PartitionMethod method,
                          const at::Tensor& sample) {
  switch (method) {
    case PartitionMethod::Uniform:
      return partition_uniform(model->size(), stages);
    case PartitionMethod::Params:
      return balance_costs(parameter_costs(model), stages);
    case PartitionMethod::Time:
      return balance_costs(profile_layer_costs(model, sample), stages);
  }
  throw InputError("pipeline: unknown partition method");
}

torch::nn::Sequential stage_layers(const torch::nn::Sequential& model, const Partition& partition,
                                   int stage) {
  if (partition.bounds.empty() || partition.bounds.back() != static_cast<int64_t>(model->size())) {
    throw InputError("pipeline: partition covers " +
                     std::to_string(partition.bounds.empty() ? 0 : partition.bounds.back()) +
                     " layers but the model has " + std::to_string(model->size()));
  }
  const auto named = model->named_children();
  torch::nn::Sequential out;
  for (int64_t i = partition.begin(stage); i < partition.end(stage); ++i) {
    out->push_back(named[i].key(), *(model->begin() + i));
  }
  return out;
}

}  // namespace cohort
