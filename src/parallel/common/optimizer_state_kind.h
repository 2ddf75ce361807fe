// An optimiser's per-parameter state as a list of tensors, so that code moving
// state between layouts (ZeRO's chunks, tensor-parallel slices) and a whole
// optimiser (checkpoints) handles every optimiser alike.
#pragma once

#include <c10/util/ArrayRef.h>
#include <torch/optim/optimizer.h>

#include <functional>
#include <memory>
#include <vector>

namespace cohort {

struct StateKind {
  // The state's per-element tensors (shaped as its parameter, `shape`) in a
  // fixed order, undefined ones included ...
  std::function<std::vector<at::Tensor>(const torch::optim::OptimizerParamState&,
                                        at::IntArrayRef shape)>
      tensors;
  // ... and a state of the same kind with other per-element tensors (of
  // another parameter's shape) and the same scalars (Adam's step count).
  std::function<std::unique_ptr<torch::optim::OptimizerParamState>(
      const torch::optim::OptimizerParamState&, at::IntArrayRef shape,
      const std::vector<at::Tensor>&)>
      with;
};

// SGD, Adam and AdamW by their fields; any other optimiser (a program's
// registered one) through its state's serialize() and clone(): the entries
// shaped as the parameter are per-element, single values are kept as they are,
// and InputError naming `who` for an entry that is neither (a factored
// statistic cannot be cut into shards or slices) or a state without clone().
StateKind state_kind_of(const torch::optim::Optimizer& optimizer, const char* who);

// InputError naming `who` unless both are of one kind.
void check_same_state_kind(const torch::optim::Optimizer& a, const torch::optim::Optimizer& b,
                           const char* who);

}  // namespace cohort
