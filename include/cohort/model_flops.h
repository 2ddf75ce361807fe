// The arithmetic one training sample costs a zoo model, so that a throughput can be
// read as a fraction of what the machine's matrix units can do (bench/machine_limit).
#pragma once

#include "cohort/models.h"

namespace cohort {

// Floating-point operations of the linear and convolution layers (a multiply-add
// counts 2), per sample. Element-wise layers (activations, pooling, batch norm,
// biases) are left out: they are memory-bound and a few percent of the total.
struct ModelFlops {
  double forward = 0;
  // Weight gradients of every layer, input gradients of every layer but the first
  // (its input needs none, and autograd computes none), as torch's FlopCounterMode
  // counts them.
  double backward = 0;
  double training() const { return forward + backward; }
};

// Mirrors build_model layer by layer, like parameter_count; zeros for a registered
// model (its layers are known only once built) or an input it cannot take.
ModelFlops model_flops(const ModelSpec& spec);

}  // namespace cohort
