// A callback after autograd has added a parameter's gradient into its .grad
// (what Python calls register_post_accumulate_grad_hook). A tensor hook runs
// before the gradient is added, too early for code that reads and then drops
// the whole .grad, as the sharded reductions do.
#pragma once

#include <ATen/core/Tensor.h>

#include <functional>

namespace cohort::zero {

// One per parameter: InputError if the parameter already has one (from
// another wrapper), since libtorch keeps a single slot.
void set_arrival_hook(const at::Tensor& parameter, std::function<void()> on_arrival);
void clear_arrival_hook(const at::Tensor& parameter);

}  // namespace cohort::zero
