#include "train/engines/async_engine.h"

#include <fmt/format.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

#include "cohort/messages.h"
#include "cohort/optim.h"
#include "comm/message_tags.h"
#include "train/engines/server_role.h"

namespace cohort {
namespace {

std::vector<int> server_ranks(const ProcessContext& ctx) {
  std::vector<int> ranks;
  for (int s = 0; s < ctx.servers; ++s) ranks.push_back(ctx.data_size + s);
  return ranks;
}

}  // namespace

AsyncEngine::AsyncEngine(const Config& config, const ProcessContext& ctx, Network& net)
    : net_(net),
      ctx_(ctx),
      staleness_bound_(config.parallel.staleness),
      objective_(config.cooperate, parse_task(config.data.task), {net.model}),
      client_(ctx.comm, net.parameters, server_shards(net, ctx.servers), server_ranks(ctx),
              ctx.data_rank) {}

StepOutcome AsyncEngine::step(const Batch& batch, int64_t step, int64_t total_steps) {
  total_steps_ = total_steps;
  const auto start = TraceClock::now();
  std::vector<at::Tensor> logits{net_.model->forward(batch.inputs)};
  const auto losses = objective_.losses(step, batch.inputs, logits, batch.targets);
  net_.optimizer->zero_grad();
  losses[0].backward();
  clip_gradients(net_.parameters, net_.config.grad_clip);
  const auto pushed = TraceClock::now();
  trace_span(TraceLane::Compute, "forward+backward", net_.config.name, start, pushed, step);
  const int64_t lead = client_.push_pull(step, learning_rate_at(net_.config, step, total_steps));
  const auto pulled = TraceClock::now();
  trace_span(TraceLane::PointToPoint, "push+pull", fmt::format("lead {}", lead), pushed, pulled,
             step);
  const double seconds = std::chrono::duration<double>(pulled - pushed).count();
  costs_.communication += seconds;
  costs_.exposed_communication += seconds;  // the worker waits for its parameters
  costs_.staleness = std::max(costs_.staleness, lead);
  last_step_ = step;

  StepOutcome outcome;
  outcome.loss = {losses[0].item<double>()};
  outcome.accuracy = {batch_accuracy(objective_.task(), logits[0], batch.targets)};
  return outcome;
}

void AsyncEngine::gather_networks() {
  if (finished_) return;
  if (last_step_ + 1 == total_steps_) {
    client_.finish();
    finished_ = true;
  } else if (ctx_.leader()) {
    client_.pull();
  }
}

void AsyncEngine::finish(RunSummary& summary) {
  if (!finished_) client_.finish();
  finished_ = true;
  if (!ctx_.leader()) return;
  AsyncSummary async;
  async.staleness_bound = staleness_bound_;
  std::set<int> lost;
  for (int s = 0; s < ctx_.servers; ++s) {
    const auto report =
        nlohmann::json::parse(recv_bytes(*ctx_.comm, ctx_.data_size + s, tags::kServerReport));
    async.pushes += report.at("pushes").get<int64_t>();
    async.max_lead = std::max(async.max_lead, report.at("max_lead").get<int64_t>());
    for (int w : report.at("lost_workers")) lost.insert(w);
  }
  async.lost_workers.assign(lost.begin(), lost.end());
  summary.async = async;
}

}  // namespace cohort
