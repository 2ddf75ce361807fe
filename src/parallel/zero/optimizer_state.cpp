#include <torch/optim.h>
#include <torch/serialize/output-archive.h>

#include <sstream>

#include "cohort/zero.h"

namespace cohort {
namespace {

int64_t bytes_of(std::initializer_list<at::Tensor> tensors) {
  int64_t total = 0;
  for (const auto& t : tensors)
    if (t.defined()) total += static_cast<int64_t>(t.nbytes());
  return total;
}

// The built-in optimisers' state types hold their tensors in named fields.
std::optional<int64_t> known_state_bytes(torch::optim::OptimizerParamState& state) {
  using namespace torch::optim;
  if (auto* s = dynamic_cast<SGDParamState*>(&state)) return bytes_of({s->momentum_buffer()});
  if (auto* s = dynamic_cast<AdamParamState*>(&state))
    return bytes_of({s->exp_avg(), s->exp_avg_sq(), s->max_exp_avg_sq()});
  if (auto* s = dynamic_cast<AdamWParamState*>(&state))
    return bytes_of({s->exp_avg(), s->exp_avg_sq(), s->max_exp_avg_sq()});
  if (auto* s = dynamic_cast<RMSpropParamState*>(&state))
    return bytes_of({s->square_avg(), s->momentum_buffer(), s->grad_avg()});
  if (auto* s = dynamic_cast<AdagradParamState*>(&state)) return bytes_of({s->sum()});
  return std::nullopt;
}

}  // namespace

int64_t optimizer_state_bytes(torch::optim::Optimizer& optimizer) {
  int64_t total = 0;
  for (auto& [key, state] : optimizer.state()) {
    if (auto bytes = known_state_bytes(*state)) {
      total += *bytes;
      continue;
    }
    // Another optimiser's state: its serialised size (a few bytes of framing more).
    torch::serialize::OutputArchive archive;
    state->serialize(archive);
    std::ostringstream out;
    archive.save_to(out);
    total += static_cast<int64_t>(out.str().size());
  }
  return total;
}

ShardMemory whole_model_memory(const std::vector<at::Tensor>& parameters,
                               torch::optim::Optimizer& optimizer) {
  ShardMemory m;
  for (const auto& p : parameters) {
    m.parameters += static_cast<int64_t>(p.nbytes());
    if (p.grad().defined()) m.gradients += static_cast<int64_t>(p.grad().nbytes());
  }
  m.optimizer = optimizer_state_bytes(optimizer);
  return m;
}

}  // namespace cohort
