// A network's part (the whole network, a slice's tensor-parallel form, or a
// pipeline stage's layers) sharded among its replicas (cohort/zero.h), set up
// as `cohort train` configures it.
#pragma once

#include <torch/nn/modules/container/sequential.h>
#include <torch/optim/optimizer.h>

#include <memory>
#include <vector>

#include "cohort/config.h"
#include "cohort/zero.h"

namespace cohort {

// Stage parallel.shard in units of parallel.shard_unit_mb, clipping at the
// network's grad_clip (the norm's squares also summed over `norm_group`, for
// the parameters `norm_split` marks: slices' or stages'), the network's own
// optimiser over this rank's chunks, parallel.comm_hook. `whole` is the
// optimiser holding the module's whole state: a resumed network's is split
// into this rank's chunks, then cleared. Collective over `group`.
std::unique_ptr<ShardedDataParallel> make_sharded(
    const Config& config, const NetworkConfig& settings, const torch::nn::Sequential& module,
    torch::optim::Optimizer& whole, const CommunicatorPtr& group,
    CommunicatorPtr norm_group = nullptr, std::vector<bool> norm_split = {});

}  // namespace cohort
