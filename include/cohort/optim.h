// Optimisers and learning-rate schedules from a network's configuration.
#pragma once

#include <torch/optim/optimizer.h>

#include <memory>
#include <string>
#include <vector>

#include "cohort/config.h"

namespace cohort {

// net.optimizer: sgd | adam | adamw, or one the program registered
// (cohort/registry.h). InputError for other names.
std::unique_ptr<torch::optim::Optimizer> make_optimizer(const NetworkConfig& net,
                                                        std::vector<at::Tensor> parameters);

// The built-in optimisers, then the program's registered ones.
std::vector<std::string> optimizer_names();

// The learning rate at `step` (0-based) of a run of `total_steps`: linear warm-up
// from lr/warmup to lr over warmup_steps, then constant, step decay, or cosine
// annealing to min_lr over the remaining steps. Pure; unit tested.
double learning_rate_at(const NetworkConfig& net, int64_t step, int64_t total_steps);

void set_learning_rate(torch::optim::Optimizer& optimizer, double lr);

// Scales gradients so their global L2 norm is at most max_norm; returns the norm
// before clipping. max_norm <= 0 only measures.
double clip_gradients(const std::vector<at::Tensor>& parameters, double max_norm);

}  // namespace cohort
