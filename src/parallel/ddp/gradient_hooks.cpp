#include "parallel/ddp/gradient_hooks.h"

#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/function_hook.h>
#include <torch/csrc/autograd/variable.h>

namespace cohort::ddp {
namespace {

class ReadyHook : public torch::autograd::FunctionPostHook {
 public:
  ReadyHook(size_t parameter, GradientHookRegistry::Callback on_ready)
      : parameter_(parameter), on_ready_(std::move(on_ready)) {}

  torch::autograd::variable_list operator()(
      const torch::autograd::variable_list& outputs,
      const torch::autograd::variable_list& /*inputs*/) override {
    on_ready_(parameter_);
    return outputs;
  }

 private:
  size_t parameter_;
  GradientHookRegistry::Callback on_ready_;
};

}  // namespace

GradientHookRegistry::GradientHookRegistry(const std::vector<at::Tensor>& parameters,
                                           Callback on_ready) {
  for (size_t p = 0; p < parameters.size(); ++p) {
    auto accumulator = torch::autograd::impl::grad_accumulator(parameters[p]);
    const auto key = accumulator->add_post_hook(std::make_unique<ReadyHook>(p, on_ready));
    removers_.push_back([accumulator, key] { accumulator->del_post_hook(key); });
  }
}

GradientHookRegistry::~GradientHookRegistry() {
  for (auto& remove : removers_) remove();
}

}  // namespace cohort::ddp
