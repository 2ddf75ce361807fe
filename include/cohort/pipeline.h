// Pipeline model parallelism: each rank of a communicator holds one stage (a
// contiguous slice of the model's layers) and runs its schedule's instruction list
// for each training step, passing activations forward and gradients back.
//
// Entry point for a trainer (one call per step, on every stage):
//
//   Partition part = agree_partition(*comm, model, PartitionMethod::Time, sample);
//   PipelineStage stage(stage_layers(model, part, comm->rank()), comm);
//   torch::optim::SGD sgd(stage.parameters(), lr);
//   PipelineOptions opt{parse_schedule("1f1b"), M, /*recompute=*/false};
//   StepResult r = run_pipeline_step(stage, batch, opt, [&] { sgd.step(); });
//   if (r.has_loss) log(r.loss);   // only on the last stage
//
// Stage s talks only to s - 1 and s + 1. Data: stage 0 reads batch.inputs, the
// last stage reads batch.targets; the others may pass an empty Batch. Every stage
// must be given the same batch size (the first stage's is what flows).
#pragma once

#include <ATen/core/Tensor.h>
#include <torch/nn/modules/container/sequential.h>

#include <chrono>
#include <functional>
#include <vector>

#include "cohort/comm.h"
#include "cohort/data.h"
#include "cohort/pipeline/partition.h"
#include "cohort/pipeline/schedule.h"

namespace cohort {

// The last stage's loss on one micro-batch, the mean over its rows: its
// output, its targets, and the row of the step's batch it begins at (the
// executor scales it by the micro-batch's share of the batch).
using PipelineLoss = std::function<at::Tensor(const at::Tensor& output, const at::Tensor& targets,
                                              int64_t first_row)>;

struct PipelineOptions {
  ScheduleKind schedule = ScheduleKind::OneFOneB;
  int micro_batches = 4;
  // Store only each micro-batch's stage input and re-run the forward under grad
  // just before its backward (Chen et al. 2016; GPipe's re-materialisation):
  // memory per stored micro-batch falls to one input tensor, compute rises by a
  // forward. Batch-norm running statistics are restored around the re-run so
  // they advance once per micro-batch, as without recomputation.
  bool recompute = false;
  // The last stage's loss: cross-entropy (classification) or mean squared error.
  Task task = Task::Classification;
  // In its place, where set: a cooperating network's loss, with its peers' terms.
  PipelineLoss loss;
  // Called just before each of the stage's backward passes, with whether it is
  // the step's last one: a data-parallel wrapper accumulates locally until then
  // and starts reducing gradient buckets during the last backward.
  std::function<void(bool last_backward)> before_backward;
  // Clears the stage's gradients at the step's start; unset, the layers'
  // zero_grad(). A wrapper whose gradients live in its own buffers (sharded
  // data parallelism) clears those instead.
  std::function<void()> zero_grad;
};

// One stage of the pipeline. `comm` is the pipeline group: its rank r holds stage
// r, its size is the stage count.
class PipelineStage {
 public:
  PipelineStage(torch::nn::Sequential layers, CommunicatorPtr comm);

  int stage() const { return stage_; }
  int stages() const { return stages_; }
  bool is_first() const { return stage_ == 0; }
  bool is_last() const { return stage_ == stages_ - 1; }
  torch::nn::Sequential& layers() { return layers_; }
  std::vector<at::Tensor> parameters() const { return layers_->parameters(); }
  Communicator& comm() { return *comm_; }

 private:
  torch::nn::Sequential layers_;
  CommunicatorPtr comm_;
  int stage_;
  int stages_;
};

// When one instruction ran, in seconds since the step began on this stage.
struct InstructionTiming {
  Instruction instruction;
  double start;
  double end;
};

struct StepResult {
  // The task's mean loss over the whole batch and the number of correct
  // predictions (0 for regression); only the last stage computes them (has_loss). A trainer that
  // needs them elsewhere broadcasts from rank stages - 1.
  bool has_loss = false;
  double loss = 0;
  int64_t correct = 0;
  int64_t samples = 0;
  std::vector<InstructionTiming> timings;
  // When the step began; steady_clock is system-wide on Linux, so ranks on one
  // host can put their timelines on one axis.
  std::chrono::steady_clock::time_point started;
  double wall_seconds = 0;
  double busy_seconds = 0;  // forward + backward (+ recomputation)
  double idle_seconds = 0;  // wall - busy: waiting for neighbours, sends, bookkeeping
  // Largest number of bytes of activations held for backward at once: every
  // layer output of every stored micro-batch (its stage input only, with
  // recomputation). A proxy for what autograd keeps alive.
  int64_t peak_activation_bytes = 0;
};

// Runs one training step: zeroes the stage's gradients, splits the batch into
// `options.micro_batches` micro-batches (the first B mod M one row larger), runs
// this stage's instruction list, and calls `optimizer_step` at OptimizerStep.
// Each micro-batch's loss is scaled by its share of the batch, so the
// accumulated gradients equal those of the whole batch in one pass.
// Raises InputError when the batch has fewer rows than micro-batches.
StepResult run_pipeline_step(PipelineStage& stage, const Batch& batch,
                             const PipelineOptions& options,
                             const std::function<void()>& optimizer_step = {});

// Partitions on rank 0 of `comm` (one stage per rank) and broadcasts the bounds,
// so every stage cuts the model the same way even when the costs are measured
// timings, which differ between processes. `sample` is needed by Time only.
Partition agree_partition(Communicator& comm, torch::nn::Sequential& model,
                          PartitionMethod method, const at::Tensor& sample = at::Tensor());
// The same for `stages` stages agreed among every rank of `comm` (for example the
// whole world of a data x pipeline mesh, so every replica cuts alike).
Partition agree_partition(Communicator& comm, torch::nn::Sequential& model, int stages,
                          PartitionMethod method, const at::Tensor& sample = at::Tensor());

// Rows of each micro-batch when `rows` are split into `micro_batches`.
std::vector<int64_t> micro_batch_rows(int64_t rows, int micro_batches);

}  // namespace cohort
