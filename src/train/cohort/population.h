// Population-based training inside the trainer (Jaderberg et al. 2017): every
// pbt_interval steps the worst networks become copies of the best, with perturbed
// hyperparameters. Scores are the negated mean training loss of the interval.
#pragma once

#include <functional>
#include <vector>

#include "cohort/config.h"
#include "cohort/metrics.h"
#include "train/networks/network.h"

namespace cohort {

class PopulationSchedule {
 public:
  PopulationSchedule(const CooperateConfig& cooperate, uint64_t seed);

  // Makes network `member` a copy of network `parent` (weights, buffers,
  // optimiser state); by default both are trained here (pbt.h's exploit).
  using CopyNetwork = std::function<void(size_t member, size_t parent)>;

  // Called after every step with each network's loss on it; at an interval's end
  // decides, copies, perturbs, and writes each event to `log` (kind "pbt").
  // Every rank takes the same decisions from the same losses.
  void after_step(int64_t step, std::vector<Network>& nets, const std::vector<double>& losses,
                  MetricsLog& log, const CopyNetwork& copy = nullptr);

  // The interval in progress, for checkpoints: without it a resumed run would
  // score its next round on fewer steps, at another step, than the original.
  struct Interval {
    std::vector<double> loss_sums;
    int64_t steps = 0;
  };
  Interval interval_so_far() const { return {loss_sums_, steps_in_interval_}; }
  void resume(Interval interval) {
    loss_sums_ = std::move(interval.loss_sums);
    steps_in_interval_ = interval.steps;
  }

 private:
  bool enabled_;
  int64_t interval_;
  double fraction_;
  uint64_t seed_;
  std::vector<double> loss_sums_;
  int64_t steps_in_interval_ = 0;
};

}  // namespace cohort
