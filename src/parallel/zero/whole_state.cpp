// Between a sharded optimiser's chunk states and a whole optimiser's
// per-parameter states, so that checkpoints do not depend on the layout.
#include <fmt/format.h>
#include <torch/optim/adam.h>
#include <torch/optim/adamw.h>
#include <torch/optim/sgd.h>

#include <functional>

#include "cohort/error.h"
#include "cohort/zero.h"

namespace cohort {
namespace {

using torch::optim::OptimizerParamState;

// A kind of optimiser state: its tensors in a fixed order (undefined ones
// included), and a state of the same kind with other tensors and the same
// scalars (Adam's step count).
struct StateKind {
  std::function<std::vector<at::Tensor>(const OptimizerParamState&)> tensors;
  std::function<std::unique_ptr<OptimizerParamState>(const OptimizerParamState&,
                                                     const std::vector<at::Tensor>&)>
      with;
};

template <typename State>
StateKind adam_like() {
  return {[](const OptimizerParamState& s) {
            const auto& a = static_cast<const State&>(s);
            return std::vector<at::Tensor>{a.exp_avg(), a.exp_avg_sq(), a.max_exp_avg_sq()};
          },
          [](const OptimizerParamState& s, const std::vector<at::Tensor>& t) {
            auto copy = std::make_unique<State>(static_cast<const State&>(s));
            copy->exp_avg(t[0]).exp_avg_sq(t[1]).max_exp_avg_sq(t[2]);
            return copy;
          }};
}

StateKind kind_of(const torch::optim::Optimizer& optimizer) {
  if (dynamic_cast<const torch::optim::SGD*>(&optimizer))
    return {[](const OptimizerParamState& s) {
              return std::vector<at::Tensor>{
                  static_cast<const torch::optim::SGDParamState&>(s).momentum_buffer()};
            },
            [](const OptimizerParamState& s, const std::vector<at::Tensor>& t) {
              auto copy = std::make_unique<torch::optim::SGDParamState>(
                  static_cast<const torch::optim::SGDParamState&>(s));
              copy->momentum_buffer(t[0]);
              return copy;
            }};
  if (dynamic_cast<const torch::optim::AdamW*>(&optimizer))
    return adam_like<torch::optim::AdamWParamState>();
  if (dynamic_cast<const torch::optim::Adam*>(&optimizer))
    return adam_like<torch::optim::AdamParamState>();
  throw InputError(
      "ShardedDataParallel: only SGD, Adam and AdamW states can be gathered into a whole "
      "optimiser (for checkpoints); save this optimiser's chunks yourself");
}

void check_same_kind(const torch::optim::Optimizer& a, const torch::optim::Optimizer& b) {
  if (typeid(a) != typeid(b))
    throw InputError(
        "ShardedDataParallel: the whole optimiser must be of the sharded one's kind (both SGD, "
        "both Adam or both AdamW)");
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
    for (const at::Tensor& t : kind.tensors(chunk_state))
      flats.push_back(t.defined() ? at::cat(comm_->allgather(t)) : at::Tensor());
    const FlatShardUnit& unit = plan_.units[u];
    for (size_t i = 0; i < unit.parameters.size(); ++i) {
      const at::Tensor& p = parameters_[unit.parameters[i]];
      std::vector<at::Tensor> mine;
      for (const at::Tensor& flat : flats)
        mine.push_back(flat.defined()
                           ? flat.narrow(0, unit.offsets[i], p.numel()).view(p.sizes()).clone()
                           : at::Tensor());
      whole.state()[p.unsafeGetTensorImpl()] = kind.with(chunk_state, mine);
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
    std::vector<at::Tensor> flats;
    for (const at::Tensor& t : kind.tensors(*held[0]))
      flats.push_back(t.defined() ? at::zeros({unit.padded_numel}, t.options()) : at::Tensor());
    for (size_t i = 0; i < unit.parameters.size(); ++i) {
      if (held[i] == nullptr)
        throw InputError(fmt::format(
            "ShardedDataParallel: the optimiser state holds parameter {} but not parameter {}",
            unit.parameters[0], unit.parameters[i]));
      const auto tensors = kind.tensors(*held[i]);
      for (size_t f = 0; f < flats.size(); ++f)
        if (flats[f].defined() && tensors[f].defined())
          flats[f].narrow(0, unit.offsets[i], tensors[f].numel()).copy_(tensors[f].reshape({-1}));
    }
    std::vector<at::Tensor> chunk;
    for (const at::Tensor& flat : flats)
      chunk.push_back(flat.defined() ? flat.chunk(plan_.world_size)[rank].clone() : at::Tensor());
    optimizer_->state()[chunks_[u].unsafeGetTensorImpl()] = kind.with(*held[0], chunk);
  }
}

}  // namespace cohort
