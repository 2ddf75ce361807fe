// What the planner needs to know about a member, measured on this machine:
// per-layer forward+backward time and activation size per sample, parameter
// bytes, and the optimiser's step.
#pragma once

#include <ATen/core/Tensor.h>

#include <string>

#include "cohort/config.h"
#include "cohort/plan/cost_model.h"

namespace cohort {

// Builds network `index` of `config` (already shaped to the data by
// fit_to_data) and times it on `sample`, a batch of real inputs: each layer
// `repeats` times (pipeline/partition.h's profile_layer_costs) on the batch
// and on a quarter of it, split into a time per call and a time per sample
// (fit_layer_times), and the optimiser step as many times.
MemberCost profile_member(const Config& config, size_t index, const at::Tensor& sample,
                          int repeats = 5);

// Optimiser state bytes per parameter byte: Adam's two moments, SGD's momentum
// buffer (none without momentum).
double optimizer_state_factor(const NetworkConfig& network);

}  // namespace cohort
