// Making every rank start from the same model: the same parameter and buffer
// names, shapes and types everywhere, and rank 0's values copied to the rest.
#pragma once

#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>

#include <string>
#include <vector>

#include "cohort/comm.h"

namespace cohort::ddp {

// One line per parameter and buffer: kind, name, shape, type.
std::vector<std::string> describe_module(const torch::nn::Module& module);

// Allgathers every rank's description; raises InputError naming the first
// entry where some rank differs from rank 0 (the same error on every rank).
void check_same_model(Communicator& comm, const std::vector<std::string>& description);

// Copies `root`'s values into `tensors` on every rank: one broadcast per
// element type over a flattened copy, instead of one per tensor.
void broadcast_from(Communicator& comm, const std::vector<at::Tensor>& tensors, int root);

}  // namespace cohort::ddp
