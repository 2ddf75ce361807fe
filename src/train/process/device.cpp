#include "cohort/device.h"

#include <ATen/autocast_mode.h>
#include <ATen/detail/CUDAHooksInterface.h>
#include <fmt/format.h>

#include "cohort/error.h"

namespace cohort {

std::string Placement::describe() const {
  return device.str() + (bf16_autocast ? ", bf16 autocast" : "");
}

Placement choose_placement(const std::string& device, const std::string& precision,
                           bool cuda_compiled, int gpus_visible, int local_rank) {
  if (device != "cpu" && device != "cuda" && device != "auto")
    throw InputError(fmt::format("train.device = '{}' is not one of: cpu, cuda, auto", device));
  if (precision != "fp32" && precision != "bf16")
    throw InputError(fmt::format("train.precision = '{}' is not one of: fp32, bf16", precision));
  Placement placement;
  placement.bf16_autocast = precision == "bf16";
  const bool cuda = device == "cuda" || (device == "auto" && gpus_visible > 0);
  if (!cuda) return placement;
  if (!cuda_compiled)
    throw InputError(
        "train.device = 'cuda', but this Cohort is CPU-only (built against a libtorch without "
        "CUDA); rebuild against a CUDA libtorch or set train.device = 'cpu'");
  if (gpus_visible < 1)
    throw InputError(
        "train.device = 'cuda', but no GPU is visible to this process (no driver, or "
        "CUDA_VISIBLE_DEVICES hides them); set train.device = 'cpu' or 'auto'");
  placement.device = c10::Device(c10::kCUDA, c10::DeviceIndex(local_rank % gpus_visible));
  return placement;
}

int visible_gpus() {
#ifdef COHORT_WITH_CUDA
  // hasCUDA() asks the runtime for devices without creating a context; it is
  // false, quietly, where there is no driver.
  const auto& hooks = at::detail::getCUDAHooks();
  return hooks.hasCUDA() ? hooks.getNumGPUs() : 0;
#else
  return 0;
#endif
}

Batch place_batch(const Batch& batch, const Placement& placement) {
  if (!placement.cuda()) return batch;
  auto move = [&](const at::Tensor& t) {
    return t.pin_memory().to(placement.device, /*non_blocking=*/true);
  };
  return {move(batch.inputs), move(batch.targets)};
}

AutocastScope::AutocastScope(const Placement& placement) {
  if (!placement.bf16_autocast) return;
  type_ = placement.device.type();
  was_enabled_ = at::autocast::is_autocast_enabled(*type_);
  was_dtype_ = at::autocast::get_autocast_dtype(*type_);
  at::autocast::set_autocast_dtype(*type_, at::kBFloat16);
  at::autocast::set_autocast_enabled(*type_, true);
  at::autocast::increment_nesting();
}

AutocastScope::~AutocastScope() {
  if (!type_) return;
  // Leaving the outermost scope drops the casts autocast cached for reuse.
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  at::autocast::set_autocast_enabled(*type_, was_enabled_);
  at::autocast::set_autocast_dtype(*type_, was_dtype_);
}

}  // namespace cohort
