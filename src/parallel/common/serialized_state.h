// An optimiser's per-parameter state read and rebuilt through its own
// serialize(), for optimisers Cohort does not know field by field (a program's
// registered one): what lets their state move between shards, slices and a
// whole optimiser like SGD's or Adam's.
#pragma once

#include <ATen/core/ivalue.h>
#include <torch/optim/optimizer.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace cohort {

// The entries the state writes in serialize(OutputArchive&), by key in
// lexicographic order (so every parameter's, on every rank, line up).
using StateEntries = std::vector<std::pair<std::string, c10::IValue>>;
StateEntries state_entries(const torch::optim::OptimizerParamState& state);

// A copy of `like` (its clone()) that read `entries` in its serialize(InputArchive&).
// InputError naming `who` when the state type has no clone().
std::unique_ptr<torch::optim::OptimizerParamState> state_from_entries(
    const torch::optim::OptimizerParamState& like, const StateEntries& entries, const char* who);

// The entries as tensors named "PREFIX<key>", for sending them point to point
// (a single value as a one-element tensor, its type after '@' in the name);
// InputError naming `who` for an entry of another type (a string, a list).
std::vector<std::pair<std::string, at::Tensor>> entries_as_tensors(const StateEntries& entries,
                                                                   const std::string& prefix,
                                                                   const char* who);
// And back, from names without the prefix.
StateEntries entries_from_tensors(const std::vector<std::pair<std::string, at::Tensor>>& tensors);

}  // namespace cohort
