// An optimiser's per-parameter state as a list of tensors, so that code moving
// state between layouts (ZeRO's chunks, tensor-parallel slices) and a whole
// optimiser (checkpoints) handles SGD, Adam and AdamW alike.
#pragma once

#include <torch/optim/optimizer.h>

#include <functional>
#include <memory>
#include <vector>

namespace cohort {

struct StateKind {
  // The state's tensors in a fixed order (undefined ones included) ...
  std::function<std::vector<at::Tensor>(const torch::optim::OptimizerParamState&)> tensors;
  // ... and a state of the same kind with other tensors and the same scalars
  // (Adam's step count).
  std::function<std::unique_ptr<torch::optim::OptimizerParamState>(
      const torch::optim::OptimizerParamState&, const std::vector<at::Tensor>&)>
      with;
};

// SGD, Adam or AdamW; InputError naming `who` for another optimiser.
StateKind state_kind_of(const torch::optim::Optimizer& optimizer, const char* who);

// InputError naming `who` unless both are of one kind.
void check_same_state_kind(const torch::optim::Optimizer& a, const torch::optim::Optimizer& b,
                           const char* who);

}  // namespace cohort
