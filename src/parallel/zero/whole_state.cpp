// Between a sharded optimiser's chunk states and a whole optimiser's
// per-parameter states, so that checkpoints do not depend on the layout.
#include <fmt/format.h>
#include "cohort/error.h"
#include "cohort/zero.h"
#include "parallel/common/optimizer_state_kind.h"

namespace cohort {
namespace {

using torch::optim::OptimizerParamState;

StateKind kind_of(const torch::optim::Optimizer& optimizer) {
  return state_kind_of(optimizer, "ShardedDataParallel");
}

void check_same_kind(const torch::optim::Optimizer& a, const torch::optim::Optimizer& b) {
  check_same_state_kind(a, b, "ShardedDataParallel");
}

}  // namespace

void ShardedDataParallel::gather_optimizer_state(torch::optim::Optimizer& whole) {
  check_same_kind(*optimizer_, whole);
  const StateKind kind = kind_of(whole);
  auto& chunk_states = optimizer_->state();
  for (size_t u = 0; u < plan_.units.size(); ++u) {
    // Every rank steps every unit: a chunk without state (no step yet) has
    // none on any rank, so all skip it alike.
    auto found = chunk_states.find(chunks_[u].unsafeGetTensorImpl());
    if (found == chunk_states.end()) continue;
    const OptimizerParamState& chunk_state = *found->second;
    std::vector<at::Tensor> flats;
    for (const at::Tensor& t : kind.tensors(chunk_state, chunks_[u].sizes()))
      flats.push_back(t.defined() ? at::cat(comm_->allgather(t)) : at::Tensor());
    const FlatShardUnit& unit = plan_.units[u];
    for (size_t i = 0; i < unit.parameters.size(); ++i) {
      const at::Tensor& p = parameters_[unit.parameters[i]];
      std::vector<at::Tensor> mine;
      for (const at::Tensor& flat : flats)
        mine.push_back(flat.defined()
                           ? flat.narrow(0, unit.offsets[i], p.numel()).view(p.sizes()).clone()
                           : at::Tensor());
      whole.state()[p.unsafeGetTensorImpl()] = kind.with(chunk_state, chunks_[u].sizes(), mine);
    }
  }
}

void ShardedDataParallel::load_optimizer_state(torch::optim::Optimizer& whole) {
  check_same_kind(*optimizer_, whole);
  const StateKind kind = kind_of(whole);
  const auto& states = whole.state();
  const int rank = comm_->rank();
  for (size_t u = 0; u < plan_.units.size(); ++u) {
    const FlatShardUnit& unit = plan_.units[u];
    std::vector<const OptimizerParamState*> held;
    for (size_t p : unit.parameters) {
      auto found = states.find(parameters_[p].unsafeGetTensorImpl());
      held.push_back(found == states.end() ? nullptr : found->second.get());
    }
    if (held.empty() || held[0] == nullptr) continue;  // a fresh optimiser
    const at::Tensor& first = parameters_[unit.parameters[0]];
    std::vector<at::Tensor> flats;
    for (const at::Tensor& t : kind.tensors(*held[0], first.sizes()))
      flats.push_back(t.defined() ? at::zeros({unit.padded_numel}, t.options()) : at::Tensor());
    for (size_t i = 0; i < unit.parameters.size(); ++i) {
      if (held[i] == nullptr)
        throw InputError(fmt::format(
            "ShardedDataParallel: the optimiser state holds parameter {} but not parameter {}",
            unit.parameters[0], unit.parameters[i]));
      const auto tensors = kind.tensors(*held[i], parameters_[unit.parameters[i]].sizes());
      if (tensors.size() != flats.size())
        throw InputError(fmt::format(
            "ShardedDataParallel: the optimiser state of parameter {} has {} per-element "
            "tensors, that of parameter {} {}",
            unit.parameters[i], tensors.size(), unit.parameters[0], flats.size()));
      for (size_t f = 0; f < flats.size(); ++f)
        if (flats[f].defined() && tensors[f].defined())
          flats[f].narrow(0, unit.offsets[i], tensors[f].numel()).copy_(tensors[f].reshape({-1}));
    }
    std::vector<at::Tensor> chunk;
    for (const at::Tensor& flat : flats)
      chunk.push_back(flat.defined() ? flat.chunk(plan_.world_size)[rank].clone() : at::Tensor());
    optimizer_->state()[chunks_[u].unsafeGetTensorImpl()] =
        kind.with(*held[0], first.sizes(), chunk);
  }
}

}  // namespace cohort
