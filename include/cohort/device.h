// Where a process computes: the CPU, or one CUDA device per local rank, and in
// which precision. The choice is a pure function of the config and the GPUs
// visible, so it is tested without a GPU; placing a batch and the autocast
// scope are the two places that act on it.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <optional>
#include <string>

#include "cohort/data.h"

namespace cohort {

struct Placement {
  c10::Device device{c10::kCPU};
  bool bf16_autocast = false;  // forward and loss under autocast to bfloat16
  bool cuda() const { return device.is_cuda(); }
  std::string describe() const;  // "cpu", "cuda:1, bf16 autocast"
};

// train.device: "cpu", "cuda" (device local_rank % gpus; InputError when none is
// visible or the build is CPU-only) or "auto" (cuda when a GPU is visible).
// train.precision: "fp32" or "bf16" (autocast on the chosen device type).
Placement choose_placement(const std::string& device, const std::string& precision,
                           bool cuda_compiled, int gpus_visible, int local_rank);

// CUDA devices this process sees (0 without a driver or in a CPU-only build),
// asked without creating a CUDA context and without warnings.
int visible_gpus();

// The batch on the placement's device. On CUDA the host tensors are pinned and
// copied asynchronously on the current stream, which the step's kernels follow.
Batch place_batch(const Batch& batch, const Placement& placement);

// Autocast to bfloat16 on the placement's device type while alive, when the
// placement asks for it; otherwise nothing.
class AutocastScope {
 public:
  explicit AutocastScope(const Placement& placement);
  ~AutocastScope();
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  std::optional<c10::DeviceType> type_;
  bool was_enabled_ = false;
  c10::ScalarType was_dtype_ = c10::kFloat;
};

}  // namespace cohort
