#include "train/record/interval_log.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "cohort/optim.h"

namespace cohort {

IntervalLog::IntervalLog(size_t networks, Task task)
    : task_(task),
      loss_(networks, 0.0),
      accuracy_(networks, 0.0),
      start_(std::chrono::steady_clock::now()) {}

void IntervalLog::add(const StepOutcome& outcome, int64_t samples) {
  for (size_t k = 0; k < loss_.size(); ++k) {
    loss_[k] += outcome.loss[k];
    accuracy_[k] += outcome.accuracy[k];
  }
  ++steps_;
  samples_ += samples;
}

double IntervalLog::write(MetricsLog& metrics, const std::vector<Network>& nets, int64_t step,
                          int64_t epoch, int64_t total_steps, const StepCosts& costs,
                          double wall_seconds) {
  const auto now = std::chrono::steady_clock::now();
  const double seconds = std::max(1e-9, std::chrono::duration<double>(now - start_).count());
  rate_ = double(samples_) / seconds;
  const double steps = double(std::max<int64_t>(steps_, 1));
  for (size_t k = 0; k < nets.size(); ++k) {
    nlohmann::json record{{"kind", "train"},
                          {"network", nets[k].config.name},
                          {"step", step},
                          {"epoch", epoch},
                          {"loss", loss_[k] / steps}};
    if (task_ == Task::Classification) record["accuracy"] = accuracy_[k] / steps;
    record.update(nlohmann::json{{"lr", learning_rate_at(nets[k].config, step - 1, total_steps)},
                                 {"samples_per_sec", rate_},
                                 {"interval_seconds", seconds},
                                 {"comm_seconds", costs.communication},
                                 {"comm_exposed_seconds", costs.exposed_communication},
                                 {"pipeline_idle_seconds", costs.pipeline_idle},
                                 {"staleness", costs.staleness},
                                 {"exchange_bytes_per_step", double(costs.exchange_bytes) / steps},
                                 {"wall_seconds", wall_seconds}});
    metrics.write(record.dump());
  }
  std::fill(loss_.begin(), loss_.end(), 0.0);
  std::fill(accuracy_.begin(), accuracy_.end(), 0.0);
  steps_ = samples_ = 0;
  start_ = now;
  return seconds;
}

}  // namespace cohort
