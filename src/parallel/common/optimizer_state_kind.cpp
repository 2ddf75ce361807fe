#include "parallel/common/optimizer_state_kind.h"

#include <fmt/format.h>
#include <torch/optim/adam.h>
#include <torch/optim/adamw.h>
#include <torch/optim/sgd.h>

#include "cohort/error.h"

namespace cohort {
namespace {

using torch::optim::OptimizerParamState;

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

StateKind sgd_kind() {
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
}

}  // namespace

StateKind state_kind_of(const torch::optim::Optimizer& optimizer, const char* who) {
  if (dynamic_cast<const torch::optim::SGD*>(&optimizer)) return sgd_kind();
  if (dynamic_cast<const torch::optim::AdamW*>(&optimizer))
    return adam_like<torch::optim::AdamWParamState>();
  if (dynamic_cast<const torch::optim::Adam*>(&optimizer))
    return adam_like<torch::optim::AdamParamState>();
  throw InputError(fmt::format(
      "{}: only SGD, Adam and AdamW states can be gathered into a whole optimiser (for "
      "checkpoints); save this optimiser's state yourself",
      who));
}

void check_same_state_kind(const torch::optim::Optimizer& a, const torch::optim::Optimizer& b,
                           const char* who) {
  if (typeid(a) != typeid(b))
    throw InputError(fmt::format(
        "{}: the whole optimiser must be of the same kind (both SGD, both Adam or both AdamW)",
        who));
}

}  // namespace cohort
