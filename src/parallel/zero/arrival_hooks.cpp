#include "parallel/zero/arrival_hooks.h"

#include <torch/csrc/autograd/function_hook.h>
#include <torch/csrc/autograd/variable.h>

#include <memory>
#include <utility>

#include "cohort/error.h"

namespace cohort::zero {
namespace {

class ArrivalHook : public torch::autograd::PostAccumulateGradHook {
 public:
  explicit ArrivalHook(std::function<void()> on_arrival) : on_arrival_(std::move(on_arrival)) {}
  void operator()(const torch::autograd::Variable& /*parameter*/) override { on_arrival_(); }

 private:
  std::function<void()> on_arrival_;
};

}  // namespace

void set_arrival_hook(const at::Tensor& parameter, std::function<void()> on_arrival) {
  if (torch::autograd::impl::post_acc_grad_hooks(parameter) != nullptr)
    throw InputError(
        "ShardedDataParallel: a parameter already has a post-accumulate-grad hook (another "
        "wrapper's?); sharding reduces gradients from that hook and libtorch keeps one per "
        "parameter");
  torch::autograd::impl::set_post_acc_grad_hooks(
      parameter, std::make_unique<ArrivalHook>(std::move(on_arrival)));
}

void clear_arrival_hook(const at::Tensor& parameter) {
  torch::autograd::impl::set_post_acc_grad_hooks(parameter, nullptr);
}

}  // namespace cohort::zero
