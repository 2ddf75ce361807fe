// A worker of parameter servers (parallel.mode = "async"): each step computes
// the network's gradients on this worker's batch, pushes them to the servers
// and continues from the parameters they send back, as soon as the staleness
// bound allows. The worker's own optimiser never steps: the servers' does.
#pragma once

#include <memory>

#include "cohort/config.h"
#include "cohort/parameter_server.h"
#include "train/networks/network.h"
#include "train/cohort/objective.h"
#include "train/process/process_context.h"
#include "train/engines/step_engine.h"

namespace cohort {

class AsyncEngine : public StepEngine {
 public:
  AsyncEngine(const Config& config, const ProcessContext& ctx, Network& net);

  StepOutcome step(const Batch& batch, int64_t step, int64_t total_steps) override;
  // The leader pulls the servers' parameters to evaluate or save them; after
  // the last step every worker takes the final ones.
  void gather_networks() override;
  void finish(RunSummary& summary) override;

 private:
  Network& net_;
  ProcessContext ctx_;
  int64_t staleness_bound_;
  Objective objective_;
  ParameterClient client_;
  int64_t last_step_ = -1, total_steps_ = -1;
  bool finished_ = false;
};

}  // namespace cohort
