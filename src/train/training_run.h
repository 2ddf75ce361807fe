// One call of train(): the named steps its loop takes (trainer.cpp), and what
// they share: the job, the data, the networks, the step engine, where the run
// stands, and what it records.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cohort/config.h"
#include "cohort/data.h"
#include "cohort/metrics.h"
#include "cohort/progress.h"
#include "cohort/trace.h"
#include "cohort/trainer.h"
#include "train/engines/step_engine.h"
#include "train/networks/network.h"
#include "train/process/interrupt.h"
#include "train/process/process_context.h"
#include "train/record/interval_log.h"
#include "train/record/run_state.h"

namespace cohort {

struct Evaluation;

class TrainingRun {
 public:
  // Joins the job, loads the data, builds the networks (restored on resume),
  // checks every input, then claims the run folder: a bad input leaves nothing.
  TrainingRun(const Config& given, const RunOptions& options);

  // Parameter servers serve until the workers are done: their whole run.
  bool serves_parameters() const { return ctx_.is_server(); }
  RunSummary serve_parameters();

  // Builds the step engine for the layout (after any resume: it starts from
  // the restored networks).
  void start();

  bool epochs_left() const;
  bool batches_left() const;
  // This rank's shard of the epoch, in the order it visits it.
  at::Tensor epoch_order() const;

  // The steps of one batch, in order.
  Batch next_batch(const at::Tensor& order);
  StepOutcome step(const Batch& batch);
  void log(const StepOutcome& outcome, const Batch& batch);
  void checkpoint_if_due();
  void stop_if_interrupted();

  // Every network (and their ensemble) on the test split, then the epoch's checkpoint.
  void end_epoch();

  // The engine's last word, the summary, the trace: the run's result.
  RunSummary finish();

 private:
  void save(const Position& at);
  void evaluate_networks();
  void record_evaluation(const std::string& network, const Evaluation& e);
  // Every rank's busy time over the interval just logged, gathered; the leader
  // names the slowest in metrics.jsonl (a `ranks` record).
  // With cooperating networks on several ranks, also each rank's exchange bytes per step.
  void record_rank_times(double busy_seconds, double exchange_bytes_per_step);
  std::unique_ptr<StepEngine> make_engine();

  using Clock = std::chrono::steady_clock;
  const Clock::time_point wall_start_;
  RunOptions options_;
  ProcessContext ctx_;
  Splits splits_;
  Config config_;
  std::string config_text_;
  std::vector<Network> nets_;
  // One per replica this rank plays (ctx_.accumulate; one unless re-formed).
  std::vector<ShardedSampler> samplers_;
  int64_t steps_per_epoch_ = 0, total_steps_ = 0;
  // Samples each replica this rank plays reads per step: train.batch_size, or
  // with members' own layouts the whole global batch (parallel.data x
  // train.batch_size), which each member splits among its replicas.
  int64_t rows_per_step_ = 0;
  Position pos_;
  std::string resumed_from_;  // the checkpoint a resume started from
  std::string engine_state_;  // what the engine saved in it (PBT's interval so far)
  std::unique_ptr<StepEngine> engine_;
  std::unique_ptr<MetricsLog> metrics_;  // opened once the run folder is claimed
  Progress progress_;
  TraceRecorder trace_;
  std::optional<InterruptWatch>
      interrupts_;  // from start(): a signal before the loop ends the process
  IntervalLog interval_;
  RunSummary summary_;
  // Throughput counts the steps themselves (batch gather, forward, backward,
  // optimiser) after a short warm-up, as the Python peer does: evaluation and
  // checkpoints are reported separately in metrics.jsonl.
  int64_t warmup_steps_ = 0, steps_this_run_ = 0, samples_timed_ = 0;
  double step_seconds_ = 0;
  Clock::time_point step_start_, last_checkpoint_;
  // Ranks that step together compare their busy times at each log (parameter
  // servers' workers do not: the servers never log).
  bool compares_ranks_ = false;
  // An elastic job re-formed on fewer ranks stops at its next checkpoint so
  // that the launcher can grow it back.
  bool reform_at_checkpoint_ = false;
  void stop_for_reform_if_asked();
  // The step whose own allocations are metered (observe/allocation_meter.h):
  // the second of this run, after the first has made the optimiser's state.
  bool meters_this_step() const;
  // Collective where ranks are compared: every rank's peak into metrics.
  void record_step_memory(int64_t peak_bytes);
  std::vector<at::Tensor> gather_from_ranks(at::Tensor mine);
};

}  // namespace cohort
