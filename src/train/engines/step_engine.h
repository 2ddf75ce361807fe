// How one training step is carried out on this rank. The trainer owns the loop
// (data order, learning-rate schedule, evaluation, checkpoints, metrics); an
// engine owns what differs between layouts: whole networks replicated on every
// rank (ReplicaEngine: one process, data parallelism, cooperative methods) or one
// network cut into pipeline stages, optionally replicated (PipelineEngine).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "cohort/comm.h"
#include "cohort/data.h"
#include "cohort/ddp/timeline.h"
#include "cohort/trace.h"
#include "cohort/trainer.h"

namespace cohort {

// Where this rank's step time went, in seconds, summed over steps.
struct StepCosts {
  double communication = 0;          // gradient collectives, launch to done
  double exposed_communication = 0;  // the part the step waited for (not hidden behind backward)
  double pipeline_idle = 0;          // a stage waiting for its neighbours: bubble and transfers
  int64_t staleness = 0;  // parameter servers: the largest lead of a step over the slowest worker
  int64_t exchange_bytes = 0;  // cooperating networks on other ranks: logits, weights, states sent
};

// Each network's loss (its whole objective) and accuracy on the step's batch.
struct StepOutcome {
  std::vector<double> loss;
  std::vector<double> accuracy;
};

class StepEngine {
 public:
  virtual ~StepEngine() = default;

  // One optimiser step of every network on this rank's batch. The leader always
  // has the true outcome.
  virtual StepOutcome step(const Batch& batch, int64_t step, int64_t total_steps) = 0;

  // Collective: brings the leader's networks up to date as whole networks
  // before it evaluates or saves them (pipeline stages send it their layers).
  virtual void gather_networks() {}

  // After the last step, on every rank: brings the run to its end (workers of
  // parameter servers take the final parameters) and adds what only the engine
  // knows to the summary.
  virtual void finish(RunSummary&) {}

  // Collective when ranks must act together on a decision only the leader can
  // make (a checkpoint due by its clock): returns the leader's decision on
  // every rank that needs it.
  virtual bool agree(bool leader_decision) { return leader_decision; }

  // What the engine carries from step to step beyond the networks, as a JSON
  // object for the checkpoint's `extra`, and back on resume, so a resumed run
  // continues exactly.
  virtual std::string checkpoint_state() const { return "{}"; }
  virtual void restore_checkpoint_state(const std::string& /*json*/) {}

  // The costs since the previous call (for metrics.jsonl), then starts afresh.
  StepCosts take_costs() { return std::exchange(costs_, StepCosts{}); }

  // Where steps record their spans (train.timeline); a disabled recorder by default.
  void set_trace(TraceRecorder* trace) { trace_ = trace; }

 protected:
  // A span "<what>[ <detail>]" of step `step` (0-based, shown 1-based). Builds
  // no string when tracing is off: engines call it on every step.
  void trace_span(TraceLane lane, const char* what, const std::string& detail,
                  TraceClock::time_point start, TraceClock::time_point end, int64_t step);
  // A synchronised DDP step: its communication into the costs, and each
  // bucket's allreduce into the trace (named after `network` when not empty).
  void account_ddp_step(const StepTimeline& timeline, const std::string& network, int64_t step);
  // Communication nothing ran behind (the step waited for all of it): into the
  // costs as exposed, and into the trace.
  void account_blocking_communication(const char* what, const std::string& detail,
                                      TraceClock::time_point start, TraceClock::time_point end,
                                      int64_t step);
  // The leader's decision, broadcast over `world` to every rank (collective).
  static bool broadcast_decision(Communicator& world, bool leader_decision);

  StepCosts costs_;
  TraceRecorder disabled_trace_;
  TraceRecorder* trace_ = &disabled_trace_;
};

}  // namespace cohort
