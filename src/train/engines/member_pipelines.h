// Pipelined members beside whole ones (cohort/member_layout.h: `[[network]]
// pipeline = P`): this rank's stages of them, each run by a PipelineEngine on
// the member's own groups (ProcessContext::member_pipelines). The replica
// engine steps them between the whole members' forwards and their losses, so
// mutual learning can hand a pipeline's last stage its peers' predictions and
// take the pipeline's own predictions back (replica_engine.h).
#pragma once

#include <ATen/core/Tensor.h>

#include <memory>
#include <vector>

#include "cohort/config.h"
#include "cohort/pipeline.h"
#include "train/engines/pipeline_engine.h"
#include "train/engines/step_engine.h"
#include "train/networks/network.h"
#include "train/process/process_context.h"

namespace cohort {

class MemberPipelines {
 public:
  // `sample`: a batch of inputs for each pipeline's time-balanced partition
  // (its micro-batch's rows are taken). Collective over each member's ranks.
  MemberPipelines(const Config& config, const ProcessContext& ctx, std::vector<Network>& nets,
                  const at::Tensor& sample, MetricsLog& metrics);

  // The pipelined members this rank holds a stage of, in config order.
  const std::vector<size_t>& held() const { return held_; }

  struct Stepped {
    double loss = 0, accuracy = 0;  // the replica's, known on every stage
    at::Tensor logits;  // the last stage's on the replica's rows, detached; undefined elsewhere
  };
  // One optimiser step of member k on its replica's rows, `loss` computed on
  // each micro-batch (first_row: in `rows`): the cohort's objective, which the
  // task's loss alone would not be.
  Stepped step(size_t k, const Batch& rows, PipelineLoss loss, int64_t step, int64_t total_steps);

  // Collective over each member's ranks: its lead takes the whole network.
  void gather_networks();
  // The pipelines' costs since the previous call, added into `costs`.
  void add_costs(StepCosts& costs);
  void set_trace(TraceRecorder* trace);

 private:
  std::vector<std::unique_ptr<PipelineEngine>> engines_;  // per member; null where not held
  std::vector<size_t> held_;
};

}  // namespace cohort
