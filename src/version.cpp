#include "cohort/version.h"

#include <ATen/detail/CUDAHooksInterface.h>
#include <fmt/format.h>
#include <torch/version.h>

#include "cohort/device.h"
#include "cohort/rendezvous.h"

namespace cohort {

const char* version() { return COHORT_VERSION; }

BuildInfo build_info() {
  BuildInfo info;
  info.cohort = COHORT_VERSION;
  info.libtorch = fmt::format("{}.{}.{}", TORCH_VERSION_MAJOR, TORCH_VERSION_MINOR,
                              TORCH_VERSION_PATCH);
#ifdef COHORT_WITH_CUDA
  info.cuda = true;
  const auto& hooks = at::detail::getCUDAHooks();
  info.cuda_runtime = hooks.versionCUDART();
  info.nccl = nccl_version();
  info.gpus = visible_gpus();
#endif
  return info;
}

std::string describe(const BuildInfo& info) {
  std::string cuda = "CPU only: no CUDA or NCCL compiled in";
  if (info.cuda)
    cuda = fmt::format("CUDA {}.{}{} compiled in; {} GPU{} visible", info.cuda_runtime / 1000,
                       info.cuda_runtime % 1000 / 10,
                       info.nccl.empty() ? " (no NCCL)" : " and NCCL " + info.nccl, info.gpus,
                       info.gpus == 1 ? "" : "s");
  return fmt::format("cohort {} (libtorch {}; {})", info.cohort, info.libtorch, cuda);
}

}  // namespace cohort
