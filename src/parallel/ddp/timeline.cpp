#include "cohort/ddp/timeline.h"

#include <nlohmann/json.hpp>

#include <algorithm>

namespace cohort {
namespace {

double seconds(DdpClock::duration d) { return std::chrono::duration<double>(d).count(); }

}  // namespace

double StepTimeline::communication_seconds() const {
  double total = 0;
  for (const auto& b : buckets) total += seconds(b.done - b.launched);
  return total;
}

double StepTimeline::hidden_seconds() const {
  double hidden = 0;
  for (const auto& b : buckets) {
    hidden += std::max(0.0, seconds(std::min(b.done, backward_end) - b.launched));
  }
  return hidden;
}

double StepTimeline::hidden_share() const {
  const double total = communication_seconds();
  return total > 0 ? hidden_seconds() / total : 0.0;
}

std::string StepTimeline::to_json() const {
  auto ms = [&](DdpClock::time_point t) { return 1e3 * seconds(t - backward_start); };
  nlohmann::json out = {{"backward_end_ms", ms(backward_end)},
                        {"synchronized_ms", ms(synchronized)},
                        {"hidden_share", hidden_share()}};
  for (const auto& b : buckets) {
    out["buckets"].push_back(
        {{"ready_ms", ms(b.ready)}, {"launched_ms", ms(b.launched)}, {"done_ms", ms(b.done)}});
  }
  return out.dump();
}

}  // namespace cohort
