#include "train/engines/step_engine.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <chrono>

namespace cohort {

void StepEngine::trace_span(TraceLane lane, const char* what, const std::string& detail,
                            TraceClock::time_point start, TraceClock::time_point end,
                            int64_t step) {
  if (!trace_->enabled()) return;
  trace_->span(detail.empty() ? std::string(what) : fmt::format("{} {}", what, detail), lane, start,
               end, fmt::format("{{\"step\":{}}}", step + 1));
}

void StepEngine::account_ddp_step(const StepTimeline& timeline, const std::string& network,
                                  int64_t step) {
  costs_.communication += timeline.communication_seconds();
  costs_.exposed_communication +=
      std::chrono::duration<double>(timeline.synchronized - timeline.backward_end).count();
  const std::string prefix = network.empty() ? "" : network + " ";
  for (size_t b = 0; b < timeline.buckets.size(); ++b) {
    trace_span(TraceLane::Communication, "allreduce", fmt::format("{}bucket {}", prefix, b),
               timeline.buckets[b].launched, timeline.buckets[b].done, step);
  }
}

void StepEngine::account_blocking_communication(const char* what, const std::string& detail,
                                                TraceClock::time_point start,
                                                TraceClock::time_point end, int64_t step) {
  const double seconds = std::chrono::duration<double>(end - start).count();
  costs_.communication += seconds;
  costs_.exposed_communication += seconds;
  trace_span(TraceLane::Communication, what, detail, start, end, step);
}

bool StepEngine::broadcast_decision(Communicator& world, bool leader_decision) {
  at::Tensor flag = at::scalar_tensor(int64_t(leader_decision), at::kLong).reshape({1});
  world.broadcast(flag, 0);
  return flag.item<int64_t>() != 0;
}

}  // namespace cohort
