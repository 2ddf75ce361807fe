// A network's complete training state as named tensors: parameters, buffers and
// optimiser state. The same names serve checkpoints, PBT's exploit copy and
// resuming across layouts.
#pragma once

#include <torch/nn/module.h>
#include <torch/optim/optimizer.h>

#include <string>

#include "cohort/checkpoint.h"

namespace cohort {

// "param.<name>", "buffer.<name>", "optim.<index>.<field>" (index into the
// optimiser's parameter list). Tensors are detached copies.
NamedTensors capture_state(const torch::nn::Module& model, const torch::optim::Optimizer& optimizer);

// Restores what capture_state produced into a model of the same architecture and
// an optimiser of the same kind, copying values in place. Missing names or
// other shapes raise InputError naming `context`, the tensor and both shapes.
void restore_state(torch::nn::Module& model, torch::optim::Optimizer& optimizer,
                   const NamedTensors& state, const std::string& context);

// The optimiser's state for one of its parameters, or nullptr before its first
// step. libtorch's own key for it changed type within 2.x; this hides which.
const torch::optim::OptimizerParamState* param_state(const torch::optim::Optimizer& optimizer,
                                                     const at::Tensor& parameter);

}  // namespace cohort
