#include "parallel/zero/packed_gradient.h"

#include <ATen/ops/zeros.h>

namespace cohort::zero {
namespace {

bool fills_the_unit(const at::Tensor& grad, const FlatShardUnit& unit,
                    const at::TensorOptions& options) {
  return grad.defined() && grad.is_contiguous() && grad.numel() == unit.padded_numel &&
         grad.scalar_type() == options.dtype().toScalarType() && grad.device() == options.device();
}

}  // namespace

at::Tensor take_packed_gradient(const FlatShardUnit& unit,
                                const std::vector<at::Tensor>& parameters,
                                const at::TensorOptions& options) {
  if (unit.parameters.size() == 1) {
    const at::Tensor& p = parameters[unit.parameters[0]];
    at::Tensor grad = p.grad();
    if (fills_the_unit(grad, unit, options)) {
      // Only this handle holds it afterwards, so nothing else sees the
      // reduction write into it.
      p.mutable_grad() = at::Tensor();
      return grad.view({-1});
    }
  }
  at::Tensor packed = at::zeros({unit.padded_numel}, options);
  for (size_t i = 0; i < unit.parameters.size(); ++i) {
    const at::Tensor& p = parameters[unit.parameters[i]];
    if (p.grad().defined())
      packed.narrow(0, unit.offsets[i], p.numel()).copy_(p.grad().reshape({-1}));
    p.mutable_grad() = at::Tensor();
  }
  return packed;
}

}  // namespace cohort::zero
