// Sharded data parallelism, ZeRO stages 1 and 2 (Rajbhandari et al., "ZeRO:
// Memory Optimizations Toward Training Trillion Parameter Models", SC 2020).
// Every rank holds the whole model and computes gradients on its own slice of
// the batch, as in DistributedDataParallel, but the optimiser state is split:
// each rank updates only its chunk of every unit (cohort/zero/flat_shard_plan.h)
// and the updated chunks are all-gathered back into the model.
//
//   stage 1: gradients are averaged by allreduce; the optimiser state is sharded.
//   stage 2: gradients are averaged by reduce-scatter, so each rank keeps only
//            its chunk between steps; the whole gradients live from backward
//            to step() only.
//
// Both compute exactly what one process computes on the union of the ranks'
// batches (tests/dist/zero_worker.cpp checks it against one), with any
// element-wise optimiser (SGD, Adam, AdamW, RMSprop, Adagrad, or one of the
// program's own that updates each element from its own gradient and state).
//
//   cohort::ShardedDataParallel sharded(model.ptr(), comm,
//       [](std::vector<at::Tensor> chunks) {
//         return std::make_unique<torch::optim::AdamW>(chunks, torch::optim::AdamWOptions(1e-3));
//       }, {.stage = 2, .max_grad_norm = 1.0});
//   for (...) {
//     sharded.zero_grad();
//     loss_on_my_slice().backward();  // backward may run several times: gradients add up
//     sharded.step();                 // reduce, clip, update my chunks, gather the model
//   }
#pragma once

#include <torch/nn/module.h>
#include <torch/optim/optimizer.h>

#include <functional>
#include <memory>
#include <vector>

#include "cohort/comm.h"
#include "cohort/zero/flat_shard_plan.h"

namespace cohort {

struct ShardOptions {
  int stage = 1;  // 1 or 2
  // Consecutive parameters are grouped into units of at most this many bytes;
  // each unit is one collective per step.
  int64_t unit_cap_bytes = 25 * 1024 * 1024;
  // Above zero: gradients are scaled so that their global L2 norm (over every
  // rank's chunks) is at most this, as torch::nn::utils::clip_grad_norm_ does
  // in one process.
  double max_grad_norm = 0;
  // Buffers (batch-norm statistics) are copied from rank 0 at every step, as
  // DistributedDataParallel does by default.
  bool broadcast_buffers = true;
};

// Bytes this rank holds, by kind, between steps.
struct ShardMemory {
  int64_t parameters = 0;  // the whole model (ZeRO 1 and 2 shard no parameters)
  int64_t gradients = 0;   // stage 1: the whole model's; stage 2: this rank's chunks
  int64_t optimizer = 0;   // the optimiser's state for this rank's chunks
};

// Makes the optimiser that updates this rank's chunks (one tensor per unit).
using ShardOptimizerFactory =
    std::function<std::unique_ptr<torch::optim::Optimizer>(std::vector<at::Tensor> chunks)>;

class ShardedDataParallel {
 public:
  // Checks that every rank has the same model (InputError naming the first
  // difference), copies rank 0's parameters and buffers to every rank and
  // flattens the trainable parameters into one buffer per unit (they become
  // views into it). Every trainable parameter must have the same type and
  // device. Collective: every rank constructs it at the same point.
  ShardedDataParallel(std::shared_ptr<torch::nn::Module> module, CommunicatorPtr comm,
                      const ShardOptimizerFactory& make_optimizer, ShardOptions options = {});
  ~ShardedDataParallel();
  ShardedDataParallel(const ShardedDataParallel&) = delete;
  ShardedDataParallel& operator=(const ShardedDataParallel&) = delete;

  // Zeroes the gradients (stage 1 keeps them, stage 2 drops the whole ones).
  void zero_grad();
  // After backward: averages the gradients across ranks, clips them by their
  // global norm, steps the optimiser on this rank's chunks and all-gathers
  // the updated parameters. Returns the global gradient norm before clipping.
  // Collective: every rank calls it once per step.
  double step();

  // Checkpoints stay whole whatever the layout. `whole` is an optimiser of
  // the same kind over the module's trainable parameters (made, never
  // stepped): gather_optimizer_state fills its state with the union of the
  // ranks' chunks (collective), load_optimizer_state takes this rank's chunks
  // from it (local). SGD, Adam and AdamW; InputError for other kinds.
  void gather_optimizer_state(torch::optim::Optimizer& whole);
  void load_optimizer_state(torch::optim::Optimizer& whole);

  // Seconds the last step() spent in collectives (all of it exposed: they run
  // after backward).
  double last_communication_seconds() const { return last_communication_seconds_; }

  torch::optim::Optimizer& optimizer() { return *optimizer_; }
  torch::nn::Module& module() { return *module_; }
  const FlatShardPlan& plan() const { return plan_; }
  int stage() const { return options_.stage; }
  ShardMemory memory() const;

 private:
  // Moves unit u's parameters into one flat buffer and takes this rank's chunk.
  void flatten_unit(size_t u);
  void reduce_gradients();
  double clip_chunks();
  void gather_parameters();

  std::shared_ptr<torch::nn::Module> module_;
  CommunicatorPtr comm_;
  ShardOptions options_;
  FlatShardPlan plan_;
  std::vector<at::Tensor> parameters_;  // trainable, in registration order
  std::vector<at::Tensor> buffers_;
  std::vector<at::Tensor> flat_parameters_;  // one per unit; parameters_ view into them
  std::vector<at::Tensor> flat_gradients_;   // stage 1: one per unit, param.grad views into them
  std::vector<at::Tensor> chunks_;           // this rank's chunk of each unit's parameters
  std::vector<at::Tensor> chunk_gradients_;  // and of its averaged gradients
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  double last_communication_seconds_ = 0;
};

// The same count for a model trained whole (one process, DDP): its
// parameters, their gradients where defined, and the optimiser's state.
ShardMemory whole_model_memory(const std::vector<at::Tensor>& parameters,
                               torch::optim::Optimizer& optimizer);

// Bytes of the tensors in an optimiser's state (the built-in optimisers'
// state types; others are measured by serialising them).
int64_t optimizer_state_bytes(torch::optim::Optimizer& optimizer);

}  // namespace cohort
