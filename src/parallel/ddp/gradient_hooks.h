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

#include <functional>
#include <memory>
#include <vector>

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
  // Autograd holds accumulators weakly; each remover owns one node, keeping it
  // and the hook installed on it alive for as long as the hooks should fire.
  // Type-erased because the node's handle changed from std::shared_ptr to
  // c10::intrusive_ptr within torch 2.x.
  std::vector<std::function<void()>> removers_;
};

}  // namespace cohort::ddp
