#include "train/engines/comm_hook_choice.h"

#include "cohort/error.h"

namespace cohort {

CommHookPtr make_comm_hook(const std::string& name, uint64_t seed) {
  if (name == "none") return nullptr;
  if (name == "fp16") return std::make_shared<CompressionHook>(at::kHalf);
  if (name == "bf16") return std::make_shared<CompressionHook>(at::kBFloat16);
  if (name == "powersgd") {
    PowerSgdOptions options;
    options.seed = seed;
    return std::make_shared<PowerSgdHook>(options);
  }
  throw InputError("parallel.comm_hook = '" + name + "': choose none, fp16, bf16 or powersgd");
}

DdpOptions ddp_options(const Config& config) {
  DdpOptions ddp;
  ddp.bucket_cap_bytes = int64_t(config.parallel.bucket_mb * 1024 * 1024);
  ddp.comm_hook = make_comm_hook(config.parallel.comm_hook, config.train.seed);
  return ddp;
}

}  // namespace cohort
