// One network cut into pipeline stages, one stage per rank, replicated `data`
// times on a data x pipeline mesh. Every rank holds the whole network (same
// seed, same checkpoint) and trains its stage's layers; a step runs the
// schedule's instruction list, averages the stage's gradients across replicas,
// clips by the norm of the whole network's gradient, and steps the optimiser.
// The leader (replica 0, stage 0) gathers the other stages' layers before it
// evaluates or saves, so checkpoints hold the whole network whatever the layout.
// With parallel.tensor each stage's layers are split among T slice ranks
// (data x pipeline x tensor), gathered whole before the stages' gather; with
// parallel.shard = 1 or 2 each stage's replicas shard its optimiser state (and
// gradients), gathered whole first too.
#pragma once

#include <ATen/core/Tensor.h>

#include <memory>
#include <optional>
#include <string>

#include "cohort/config.h"
#include "cohort/ddp.h"
#include "cohort/metrics.h"
#include "cohort/pipeline.h"
#include "cohort/zero.h"
#include "train/engines/step_engine.h"
#include "train/networks/network.h"
#include "train/process/process_context.h"

namespace cohort {

class PipelineEngine : public StepEngine {
 public:
  // `sample` is a batch of inputs for the time-balanced partition. The step whose
  // timeline is drawn (timeline.svg in `run_dir`, a "pipeline" metrics record) is
  // `timeline_step`; -1 draws none.
  // `seat`: the shared mesh's (ProcessContext::pipeline_seat) or a pipelined
  // member's.
  PipelineEngine(const Config& config, PipelineSeat seat, Network& net, const at::Tensor& sample,
                 std::string run_dir, MetricsLog& metrics, int64_t timeline_step);

  StepOutcome step(const Batch& batch, int64_t step, int64_t total_steps) override;
  void gather_networks() override;
  bool agree(bool leader_decision) override;

  const Partition& partition() const { return partition_; }

  // The last stage's loss on each micro-batch in place of the task's (see
  // PipelineOptions::loss): a cooperating member's, with its peers' terms.
  void set_loss(PipelineLoss loss) { options_.loss = std::move(loss); }

 private:
  void clip_gradients_across_stages(double max_norm);
  void report_timeline(const StepResult& result, int64_t step);
  void trace_step(const StepResult& result, int64_t step) const;

  PipelineSeat seat_;
  Network& net_;
  Partition partition_;
  // This stage's layers of the whole network (sharing its parameters), and with
  // parallel.tensor the optimiser of this rank's slices of them (the stage then
  // runs their tensor-parallel form).
  torch::nn::Sequential whole_stage_{nullptr};
  std::unique_ptr<torch::optim::Optimizer> slice_optimizer_;
  std::unique_ptr<PipelineStage> stage_;
  // Replicas: the stage's layers under DDP on the data group. Backward passes
  // accumulate locally (no_sync) until the step's last one, whose gradient
  // hooks start each bucket's allreduce while the rest of backward runs.
  std::unique_ptr<DistributedDataParallel> replicas_;
  std::optional<DistributedDataParallel::NoSync> accumulating_;
  // Or, with parallel.shard, the stage's layers sharded among the replicas
  // (ZeRO 1 or 2): their chunk optimiser steps, clipping by the norm over the
  // shards and the stages; backward passes but the last add up whole.
  std::unique_ptr<ShardedDataParallel> sharded_;
  std::optional<ShardedDataParallel::NoSync> sharded_accumulating_;
  PipelineOptions options_;
  std::string run_dir_;
  MetricsLog& metrics_;
  int64_t timeline_step_;
};

}  // namespace cohort
