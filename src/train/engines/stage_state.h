// A pipeline stage's share of a network's state, and how it travels to the
// leader. Every rank holds the whole network (same seed, same checkpoint) but
// trains only its stage's layers, so a checkpoint or an evaluation first takes
// each layer's weights, buffers and optimiser state from the stage that owns it.
// The result is the whole network's state, the same as a single process would
// save: checkpoints do not depend on the layout that wrote them.
#pragma once

#include <torch/nn/modules/container/sequential.h>
#include <torch/optim/optimizer.h>

#include <vector>

#include "cohort/checkpoint.h"
#include "cohort/comm.h"
#include "cohort/pipeline/partition.h"

namespace cohort {

// The stage holding each entry of capture_state(model, optimizer) ("param.3.weight",
// "buffer.1.running_mean", "optim.N.field" where N indexes model->parameters()).
// Raises Error for a name that belongs to no layer.
std::vector<int> owning_stages(const NamedTensors& state, const torch::nn::Sequential& model,
                               const Partition& partition);

// A registered optimiser's state, which capture_state() keeps whole in the
// optimiser's own archive (one per stage, not mergeable), as "optim.N.<entry>"
// tensors (N indexing model->parameters(); parallel/common/serialized_state.h)
// for the parameters that have state ...
NamedTensors capture_serialized_optimizer_state(const torch::nn::Module& model,
                                                const torch::optim::Optimizer& optimizer);
// ... and back into `optimizer`: each parameter's state a copy of one this
// optimiser already holds (the leader's own stage's) with those entries.
// Error when it holds none to copy.
void restore_serialized_optimizer_state(const torch::nn::Module& model,
                                        torch::optim::Optimizer& optimizer,
                                        const NamedTensors& entries);

// One message: the size (checked by the receiver before it allocates), then the
// pickled tensors. Point to point within `comm`.
void send_tensors(Communicator& comm, const NamedTensors& tensors, int dst, int tag);
NamedTensors recv_tensors(Communicator& comm, int src, int tag);

}  // namespace cohort
