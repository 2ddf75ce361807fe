// The train records of metrics.jsonl: each network's loss and (classification)
// accuracy averaged over the steps since the last record, the samples per second over them, and
// where the time went (the engine's costs).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "cohort/metrics.h"
#include "train/engines/step_engine.h"
#include "train/networks/network.h"

namespace cohort {

class IntervalLog {
 public:
  IntervalLog(size_t networks, Task task);

  void add(const StepOutcome& outcome, int64_t samples);

  // Writes one record per network at `step` (1-based, the steps done), and
  // starts the next interval. `wall_seconds`: since the run began. Returns the
  // interval's length in seconds.
  double write(MetricsLog& metrics, const std::vector<Network>& nets, int64_t step, int64_t epoch,
               int64_t total_steps, const StepCosts& costs, double wall_seconds);

  // Steps added since the last record.
  int64_t steps() const { return steps_; }
  // Samples per second over the last interval written (0 before the first).
  double rate() const { return rate_; }

 private:
  Task task_;
  std::vector<double> loss_, accuracy_;
  int64_t steps_ = 0, samples_ = 0;
  std::chrono::steady_clock::time_point start_;
  double rate_ = 0;
};

}  // namespace cohort
