// A unit's gradients end to end in one buffer of the unit's padded size, the
// shape its reduce-scatter takes.
#pragma once

#include <ATen/core/Tensor.h>

#include <vector>

#include "cohort/zero/flat_shard_plan.h"

namespace cohort::zero {

// Takes the gradients of `unit`'s parameters (unit.parameters index into
// `parameters`, the model's trainable ones) out of their .grad, which are left
// undefined; a parameter without one counts as zeros. A unit of one parameter whose gradient
// already is such a buffer (contiguous, no padding, the chunks' dtype and device) gives that
// gradient itself: a wide layer alone in its unit would otherwise hold its gradient twice at the
// moment it is packed.
at::Tensor take_packed_gradient(const FlatShardUnit& unit,
                                const std::vector<at::Tensor>& parameters,
                                const at::TensorOptions& options);

}  // namespace cohort::zero
