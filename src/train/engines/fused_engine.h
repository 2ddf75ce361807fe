// K networks of one architecture trained as one fused array (cooperate.fused =
// true): one batched forward and backward per step instead of K, each copy with
// its own seed, learning rate and schedule, and a trajectory that is the one it
// would follow trained alone (cohort/fused.h). The run's networks stay its
// record: before an evaluation or a checkpoint the fused weights and momentum
// are split back into them, so a checkpoint is the same as an unfused run's and
// either kind of run resumes from it.
#pragma once

#include <memory>
#include <vector>

#include "cohort/config.h"
#include "cohort/ddp.h"
#include "cohort/fused.h"
#include "train/networks/network.h"
#include "train/cohort/objective.h"
#include "train/process/process_context.h"
#include "train/engines/step_engine.h"

namespace cohort {

class FusedEngine : public StepEngine {
 public:
  // `nets` must already hold their restored state (weights and momentum are
  // copied into the array here); with several ranks the array is one DDP model.
  FusedEngine(const Config& config, const ProcessContext& ctx, std::vector<Network>& nets);

  StepOutcome step(const Batch& batch, int64_t step, int64_t total_steps) override;
  void gather_networks() override;

 private:
  // Each copy's gradient scaled to its own network's grad_clip, as
  // clip_grad_norm_ would on that network alone.
  void clip_per_copy();

  std::vector<Network>& nets_;
  int64_t replicas_played_ = 1;  // ProcessContext::accumulate
  FusedArray array_{nullptr};
  std::unique_ptr<FusedSGD> optimizer_;
  std::vector<at::Tensor> parameters_;
  Objective objective_;
  std::unique_ptr<DistributedDataParallel> replica_;
  at::Tensor max_norms_;  // K, 0 where a network does not clip
  bool clips_ = false;
};

}  // namespace cohort
