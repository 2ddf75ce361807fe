#include "train/engines/sharded_network.h"

#include <algorithm>

#include "cohort/optim.h"
#include "train/engines/comm_hook_choice.h"

namespace cohort {

std::unique_ptr<ShardedDataParallel> make_sharded(
    const Config& config, const NetworkConfig& settings, const torch::nn::Sequential& module,
    torch::optim::Optimizer& whole, const CommunicatorPtr& group, CommunicatorPtr norm_group,
    std::vector<bool> norm_split) {
  ShardOptions options;
  options.stage = static_cast<int>(config.parallel.shard);
  options.unit_cap_bytes =
      std::max<int64_t>(1, static_cast<int64_t>(config.parallel.shard_unit_mb * 1024 * 1024));
  options.max_grad_norm = settings.grad_clip;
  options.norm_group = std::move(norm_group);
  options.norm_split = std::move(norm_split);
  auto sharded = std::make_unique<ShardedDataParallel>(
      module.ptr(), group,
      [&settings](std::vector<at::Tensor> chunks) {
        return make_optimizer(settings, std::move(chunks));
      },
      options);
  if (CommHookPtr hook = make_comm_hook(config.parallel.comm_hook, config.train.seed))
    sharded->register_comm_hook(std::move(hook));
  sharded->load_optimizer_state(whole);
  whole.state().clear();
  return sharded;
}

}  // namespace cohort
