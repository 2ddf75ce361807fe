#include "parallel/common/optimizer_state_kind.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/optim/adam.h>
#include <torch/optim/adamw.h>
#include <torch/optim/sgd.h>

#include "cohort/error.h"
#include "parallel/common/serialized_state.h"

namespace cohort {
namespace {

using torch::optim::OptimizerParamState;

template <typename State>
StateKind adam_like() {
  return {[](const OptimizerParamState& s, at::IntArrayRef) {
            const auto& a = static_cast<const State&>(s);
            return std::vector<at::Tensor>{a.exp_avg(), a.exp_avg_sq(), a.max_exp_avg_sq()};
          },
          [](const OptimizerParamState& s, at::IntArrayRef, const std::vector<at::Tensor>& t) {
            auto copy = std::make_unique<State>(static_cast<const State&>(s));
            copy->exp_avg(t[0]).exp_avg_sq(t[1]).max_exp_avg_sq(t[2]);
            return copy;
          }};
}

StateKind sgd_kind() {
  return {[](const OptimizerParamState& s, at::IntArrayRef) {
            return std::vector<at::Tensor>{
                static_cast<const torch::optim::SGDParamState&>(s).momentum_buffer()};
          },
          [](const OptimizerParamState& s, at::IntArrayRef, const std::vector<at::Tensor>& t) {
            auto copy = std::make_unique<torch::optim::SGDParamState>(
                static_cast<const torch::optim::SGDParamState&>(s));
            copy->momentum_buffer(t[0]);
            return copy;
          }};
}

// The keys of the entries shaped as the parameter; InputError for a tensor
// that is neither that nor one value.
std::vector<size_t> per_element(const StateEntries& entries, at::IntArrayRef shape,
                                const char* who) {
  std::vector<size_t> found;
  for (size_t i = 0; i < entries.size(); ++i) {
    if (!entries[i].second.isTensor()) continue;
    const at::Tensor& t = entries[i].second.toTensor();
    if (t.sizes().equals(shape))
      found.push_back(i);
    else if (t.numel() != 1)
      throw InputError(fmt::format(
          "{}: the optimiser's state entry '{}' has shape [{}], neither its parameter's [{}] nor "
          "one value, so it cannot be cut into shards or slices; use an element-wise optimiser "
          "(sgd, adam, adamw or one of that kind) here",
          who, entries[i].first, fmt::join(t.sizes(), ", "), fmt::join(shape, ", ")));
  }
  return found;
}

// Any other optimiser, through its state's serialize(): a registered one.
StateKind serialized_kind(const char* who) {
  return {
      [who](const OptimizerParamState& s, at::IntArrayRef shape) {
        const StateEntries entries = state_entries(s);
        std::vector<at::Tensor> out;
        for (size_t i : per_element(entries, shape, who))
          out.push_back(entries[i].second.toTensor());
        return out;
      },
      [who](const OptimizerParamState& s, at::IntArrayRef shape, const std::vector<at::Tensor>& t) {
        StateEntries entries = state_entries(s);
        const std::vector<size_t> replaced = per_element(entries, shape, who);
        for (size_t k = 0; k < replaced.size(); ++k) entries[replaced[k]].second = t.at(k);
        return state_from_entries(s, entries, who);
      }};
}

}  // namespace

StateKind state_kind_of(const torch::optim::Optimizer& optimizer, const char* who) {
  if (dynamic_cast<const torch::optim::SGD*>(&optimizer)) return sgd_kind();
  if (dynamic_cast<const torch::optim::AdamW*>(&optimizer))
    return adam_like<torch::optim::AdamWParamState>();
  if (dynamic_cast<const torch::optim::Adam*>(&optimizer))
    return adam_like<torch::optim::AdamParamState>();
  return serialized_kind(who);
}

void check_same_state_kind(const torch::optim::Optimizer& a, const torch::optim::Optimizer& b,
                           const char* who) {
  if (typeid(a) != typeid(b))
    throw InputError(fmt::format(
        "{}: the whole optimiser must be of the same kind as the one of the shards or slices",
        who));
}

}  // namespace cohort
