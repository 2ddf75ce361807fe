// Calls back when a parameter's gradient has been accumulated into param.grad.
//
// Why not Tensor::register_hook: a tensor hook runs before accumulation, so it
// sees this backward's contribution but not the sum in param.grad (needed for
// no_sync accumulation), and writing into a bucket there would be followed by
// autograd accumulating the same gradient again. A post hook on the
// parameter's AccumulateGrad node runs after the sum is in param.grad, which is
// where PyTorch's own reducer hooks in too.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

namespace torch::autograd {
struct Node;
}

namespace cohort::ddp {

class GradientHookRegistry {
 public:
  using Callback = std::function<void(size_t parameter)>;
  // Installs one hook per parameter (each must require grad); removes them on
  // destruction, so the module can outlive the registry.
  GradientHookRegistry(const std::vector<at::Tensor>& parameters, Callback on_ready);
  ~GradientHookRegistry();
  GradientHookRegistry(const GradientHookRegistry&) = delete;
  GradientHookRegistry& operator=(const GradientHookRegistry&) = delete;

 private:
  // Autograd holds accumulators weakly; holding them here keeps each node, and
  // the hook installed on it, alive for as long as the hooks should fire.
  std::vector<std::shared_ptr<torch::autograd::Node>> accumulators_;
  std::vector<uintptr_t> keys_;
};

}  // namespace cohort::ddp
