// Sharded data parallelism, ZeRO stages 1 to 3 (Rajbhandari et al., "ZeRO:
// Memory Optimizations Toward Training Trillion Parameter Models", SC 2020).
// Every rank holds the whole model and computes gradients on its own slice of
// the batch, as in DistributedDataParallel, but the optimiser state is split:
// each rank updates only its chunk of every unit (cohort/zero/flat_shard_plan.h)
// and the updated chunks are all-gathered back into the model.
//
//   stage 1: gradients are averaged by allreduce; the optimiser state is sharded.
//   stage 2: gradients are averaged by reduce-scatter, unit by unit as soon
//            as backward has produced a unit's gradients, overlapping the
//            backward of earlier layers; each rank keeps only its chunk, and
//            a unit's whole gradients live only from its backward to the
//            start of its reduction (parameters' .grad is empty after
//            backward: chunk gradients hold the average).
//   stage 3: parameters are sharded too. The model must be a
//            torch::nn::Sequential and run through forward() below: units of
//            consecutive layers are all-gathered just before their forward
//            (the next unit's gather prefetched) and freed after it, gathered
//            again when backward reaches them and freed when their gradients
//            are in, which are reduced then as in stage 2. Between steps a
//            rank holds only its chunks.
//
// All three compute exactly what one process computes on the union of the ranks'
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
//     loss_on_my_slice().backward();  // may run several times: gradients add up
//     sharded.step();                 // finish reducing, clip, update my chunks, gather
//   }
//
// With stage 3 the loss is computed from sharded.forward(x), and the whole
// parameters exist only inside it, in backward and under gather_whole():
//   { auto whole = sharded.gather_whole(); save(model); }  // freed again here
#pragma once

#include <torch/nn/module.h>
#include <torch/optim/optimizer.h>

#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include "cohort/comm.h"
#include "cohort/ddp/comm_hook.h"
#include "cohort/zero/flat_shard_plan.h"

namespace torch::nn {
class SequentialImpl;
}  // namespace torch::nn

namespace cohort {

struct ShardOptions {
  int stage = 1;  // 1, 2 or 3
  // Consecutive parameters are grouped into units of at most this many bytes;
  // each unit is one collective per step (stage 3: per forward and backward,
  // and a unit is whole layers).
  int64_t unit_cap_bytes = 25 * 1024 * 1024;
  // Above zero: gradients are scaled so that their global L2 norm (over every
  // rank's chunks) is at most this, as torch::nn::utils::clip_grad_norm_ does
  // in one process.
  double max_grad_norm = 0;
  // Buffers (batch-norm statistics) are copied from rank 0 at every step, as
  // DistributedDataParallel does by default.
  bool broadcast_buffers = true;
  // Tensor parallelism beside sharding (the module is a tensor-parallel form,
  // cohort/tensor_parallel.h, and the communicator its replicas' group): the
  // clipping norm also sums over this group the squares of the parameters
  // split across it, parameter i (trainable, in registration order) being
  // split where norm_split[i]; the others are the same on every rank of it
  // and count once, as tp::clip_grad_norm counts them.
  CommunicatorPtr norm_group;
  std::vector<bool> norm_split;
};

// Bytes this rank holds, by kind, between steps.
struct ShardMemory {
  // The whole model (ZeRO 1 and 2 shard no parameters); stage 3: this rank's
  // chunks (the units gathered for a moment are gathered_bytes()).
  int64_t parameters = 0;
  int64_t gradients = 0;  // stage 1: the whole model's; stages 2 and 3: this rank's chunks
  int64_t optimizer = 0;  // the optimiser's state for this rank's chunks
};

// Makes the optimiser that updates this rank's chunks (one tensor per unit).
using ShardOptimizerFactory =
    std::function<std::unique_ptr<torch::optim::Optimizer>(std::vector<at::Tensor> chunks)>;

namespace zero {
class GatheredUnits;
class UnitReductions;
}  // namespace zero

class ShardedDataParallel {
 public:
  // Checks that every rank has the same model (InputError naming the first
  // difference), copies rank 0's parameters and buffers to every rank and
  // flattens the trainable parameters into one buffer per unit (they become
  // views into it). Every trainable parameter must have the same type and
  // device. Collective: every rank constructs it at the same point. Stage 3
  // frees the parameters' bytes here: the module runs through forward() and
  // is whole only under gather_whole() from then on, also after this object
  // is destroyed.
  ShardedDataParallel(std::shared_ptr<torch::nn::Module> module, CommunicatorPtr comm,
                      const ShardOptimizerFactory& make_optimizer, ShardOptions options = {});
  ~ShardedDataParallel();
  ShardedDataParallel(const ShardedDataParallel&) = delete;
  ShardedDataParallel& operator=(const ShardedDataParallel&) = delete;

  // Runs the model (a torch::nn::Sequential) on x. Stage 3 gathers each unit
  // of layers for its forward and, when gradients will flow, arranges its
  // gathering for backward; stages 1 and 2 run the module as it is.
  at::Tensor forward(const at::Tensor& x);

  // Stage 3: the whole parameters until the returned guard is destroyed (for
  // evaluation, checkpoints, comparisons). Collective. Stages 1 and 2 hold
  // them whole anyway: the guard does nothing.
  class WholeParameters {
   public:
    explicit WholeParameters(zero::GatheredUnits* units);
    ~WholeParameters();
    WholeParameters(WholeParameters&& other) noexcept : units_(other.units_) {
      other.units_ = nullptr;
    }
    WholeParameters(const WholeParameters&) = delete;
    WholeParameters& operator=(const WholeParameters&) = delete;
    WholeParameters& operator=(WholeParameters&&) = delete;
    // Leaves the parameters whole when the guard goes (a trainer handing the
    // trained model back).
    void keep() { units_ = nullptr; }

   private:
    zero::GatheredUnits* units_;
  };
  [[nodiscard]] WholeParameters gather_whole();

  // While a NoSync object lives, backward only adds gradients up in the
  // parameters' .grad (stages 2 and 3 start no reduction; stage 3 still
  // gathers and frees parameters); the next backward outside it, or step(),
  // reduces the sum once. For accumulating micro-batches at one reduction's
  // cost, at the price of holding whole gradients meanwhile (FSDP's no_sync).
  // Stage 1 communicates nothing until step() anyway.
  class NoSync {
   public:
    explicit NoSync(ShardedDataParallel& sharded) : sharded_(&sharded) {
      ++sharded_->no_sync_depth_;
    }
    ~NoSync() { --sharded_->no_sync_depth_; }
    NoSync(const NoSync&) = delete;
    NoSync& operator=(const NoSync&) = delete;

   private:
    ShardedDataParallel* sharded_;
  };
  [[nodiscard]] NoSync no_sync() { return NoSync(*this); }

  // Averages each unit's gradients with a DDP comm hook (cohort/ddp/comm_hook.h)
  // instead of exactly: the unit's packed gradient is one bucket (its index
  // the unit's), allreduced whole by the hook, and stages 2 and 3 keep this
  // rank's chunk of it. CompressionHook (fp16, bf16) halves the bytes. On
  // Gloo a reduce-scatter is an allreduce anyway; on NCCL the hook moves a
  // whole unit where a reduce-scatter would move 1/N of it back. Hooks that
  // keep whole-gradient state of their own (PowerSGD's error feedback) undo
  // what sharding saves. Every rank installs the same hook before its first
  // backward.
  void register_comm_hook(CommHookPtr hook);

  // Zeroes the gradients (stage 1 keeps them, stages 2 and 3 drop the whole ones
  // and any reduction still running).
  void zero_grad();
  // After backward: averages the gradients across ranks (stages 2 and 3:
  // finishes the reductions backward started, and starts those of units whose
  // gradients did not all arrive, e.g. a parameter unused in this
  // backward), clips them by their
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

  // Seconds the last step() spent in collectives, and (stages 2 and 3) the
  // backwards before it spent waiting for reductions: the time communication
  // was not hidden behind computation.
  double last_communication_seconds() const { return last_communication_seconds_; }

  torch::optim::Optimizer& optimizer() { return *optimizer_; }
  torch::nn::Module& module() { return *module_; }
  const FlatShardPlan& plan() const { return plan_; }
  int stage() const { return options_.stage; }
  ShardMemory memory() const;
  // Stage 3: bytes of the units held whole now (none between steps, unless
  // under gather_whole()), and the most held at once so far. 0 otherwise.
  int64_t gathered_bytes() const;
  int64_t peak_gathered_bytes() const;

 private:
  // Moves unit u's parameters into one flat buffer and takes this rank's chunk.
  void flatten_unit(size_t u);
  int64_t unit_cap_numel() const;
  void allreduce_flat_gradients();  // stage 1
  // Stages 2 and 3: hooks on the parameters start each unit's reduction.
  void reduce_during_backward();
  // Stages 2 and 3: after autograd has added a gradient of unit u.
  void on_gradient_arrival(size_t u);
  // Packs unit u's whole gradients, drops them and starts their reduction.
  void start_reduction(size_t u);
  void finish_reductions();
  int64_t trainable_in_unit(size_t u) const;
  // Unit u's gradient as a comm hook's bucket over `buffer`.
  GradBucket unit_bucket(size_t u, const at::Tensor& buffer) const;
  double clip_chunks();
  // The squared global norm over the chunks, and over norm_group's slices.
  double squared_norm_across_slices();
  void gather_parameters();
  // Stage 3's units of layers, the hooks that free them and their gatherer.
  void shard_parameters_by_layer();
  void before_unit_backward(size_t u);

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
  std::vector<std::shared_ptr<torch::nn::SequentialImpl>> unit_layers_;  // stage 3: per unit
  // Stages 2 and 3, per unit: gradients still to arrive before its reduction
  // starts (stage 3 counts them per forward; stage 2 expects each parameter
  // once), whether some arrived since its last reduction, and whether it was
  // reduced since the last step.
  std::vector<int64_t> gradients_awaited_;
  std::vector<char> unreduced_;
  std::vector<char> reduced_since_step_;
  std::unique_ptr<zero::UnitReductions> reductions_;
  int no_sync_depth_ = 0;
  CommHookPtr hook_;
  int64_t steps_ = 0;  // completed: the hook's buckets carry it
  std::unique_ptr<zero::GatheredUnits> gathered_;
};

// The same count for a model trained whole (one process, DDP): its
// parameters, their gradients where defined, and the optimiser's state.
ShardMemory whole_model_memory(const std::vector<at::Tensor>& parameters,
                               torch::optim::Optimizer& optimizer);

// Bytes of the tensors in an optimiser's state (the built-in optimisers'
// state types; others are measured by serialising them).
int64_t optimizer_state_bytes(torch::optim::Optimizer& optimizer);

}  // namespace cohort
