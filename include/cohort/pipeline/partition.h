// Cutting a model's layers into pipeline stages. The balancing is pure (costs in,
// boundaries out) so it is tested without a model; the cost functions (parameter
// count, measured time) only produce the numbers it balances.
#pragma once

#include <ATen/core/Tensor.h>
#include <torch/nn/modules/container/sequential.h>

#include <cstdint>
#include <string>
#include <vector>

namespace cohort {

enum class PartitionMethod {
  Uniform,  // equal layer counts (the first L mod P stages take one more)
  Params,   // balanced parameter count: balances memory, not time
  Time,     // balanced measured forward+backward time per layer
};

// "uniform" | "params" | "time"; anything else raises InputError listing them.
PartitionMethod parse_partition_method(const std::string& name);
std::string to_string(PartitionMethod method);

// Stage s holds layers [bounds[s], bounds[s + 1]); bounds has stages() + 1 entries,
// starts at 0, ends at the layer count and is strictly increasing (no empty stage).
struct Partition {
  std::vector<int64_t> bounds;
  int stages() const { return static_cast<int>(bounds.size()) - 1; }
  int64_t begin(int stage) const { return bounds.at(stage); }
  int64_t end(int stage) const { return bounds.at(stage + 1); }
  int64_t layers(int stage) const { return end(stage) - begin(stage); }
};

// Equal layer counts. Raises InputError when stages < 1 or stages > layers.
Partition partition_uniform(int64_t layers, int stages);

// Contiguous cut of `costs` into `stages` non-empty stages minimising the largest
// stage cost (exact dynamic programme, O(stages * layers^2): models here have tens
// of layers). Among optimal cuts it takes the one whose earlier stages are as full
// as the bound allows, so ties resolve the same way on every rank. Costs must be
// finite and non-negative.
Partition balance_costs(const std::vector<double>& costs, int stages);

// Cost of each stage under `costs` (for reports and tests).
std::vector<double> stage_costs(const std::vector<double>& costs, const Partition& partition);

// Parameter count of each layer of the model (top-level children, in order).
std::vector<double> parameter_costs(const torch::nn::Sequential& model);

// Median wall time in seconds of forward+backward of each layer, measured on the
// activations `sample` produces as it flows through the model (each layer sees the
// input it will see in training). One warm-up run, then `repeats` timed runs.
// The model's gradients are zeroed and its buffers (batch-norm statistics) restored
// afterwards.
std::vector<double> profile_layer_costs(torch::nn::Sequential& model, const at::Tensor& sample,
                                        int repeats = 5);

// Partition by `method`; `sample` is used only by Time.
Partition partition_model(torch::nn::Sequential& model, int stages, PartitionMethod method,
                          const at::Tensor& sample = at::Tensor());

// The layers of `stage` as a Sequential sharing the model's modules (not copies),
// keeping their names, so parameter names match the whole model's ("3.weight").
torch::nn::Sequential stage_layers(const torch::nn::Sequential& model,
                                   const Partition& partition, int stage);

}  // namespace cohort
