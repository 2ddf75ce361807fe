#include "train/replica_engine.h"

#include <fmt/format.h>

#include "cohort/optim.h"
#include "train/comm_hook_choice.h"

namespace cohort {
namespace {

std::vector<torch::nn::Sequential> models_of(const std::vector<Network>& nets) {
  std::vector<torch::nn::Sequential> models;
  for (const auto& n : nets) models.push_back(n.model);
  return models;
}

}  // namespace

ReplicaEngine::ReplicaEngine(const Config& config, const ProcessContext& ctx,
                             std::vector<Network>& nets, MetricsLog& metrics)
    : nets_(nets),
      metrics_(metrics),
      objective_(config.cooperate, models_of(nets)),
      population_(config.cooperate, config.train.seed) {
  if (!ctx.distributed()) return;
  for (auto& n : nets_) {
    DdpOptions ddp;
    ddp.bucket_cap_bytes = int64_t(config.parallel.bucket_mb * 1024 * 1024);
    ddp.comm_hook = make_comm_hook(config.parallel.comm_hook, config.train.seed);
    replicas_.push_back(std::make_unique<DistributedDataParallel>(n.model.ptr(), ctx.comm, ddp));
  }
}

StepOutcome ReplicaEngine::step(const Batch& batch, int64_t step, int64_t total_steps) {
  const std::string step_args = fmt::format("{{\"step\":{}}}", step + 1);
  std::vector<at::Tensor> logits;
  logits.reserve(nets_.size());
  for (auto& n : nets_) {
    const auto start = TraceClock::now();
    logits.push_back(n.model->forward(batch.inputs));
    trace_->span("forward " + n.config.name, TraceLane::Compute, start, TraceClock::now(), step_args);
  }
  const auto objective_start = TraceClock::now();
  const auto losses = objective_.losses(step, batch.inputs, logits, batch.targets);
  trace_->span("loss", TraceLane::Compute, objective_start, TraceClock::now(), step_args);
  StepOutcome outcome;
  std::vector<double>& step_losses = outcome.loss;
  step_losses.resize(nets_.size());
  for (const auto& l : logits) {
    const double correct = l.detach().argmax(1).eq(batch.targets).sum().item<double>();
    outcome.accuracy.push_back(correct / double(batch.targets.size(0)));
  }
  for (size_t k = 0; k < nets_.size(); ++k) {
    auto& n = nets_[k];
    set_learning_rate(*n.optimizer, learning_rate_at(n.config, step, total_steps));
    n.optimizer->zero_grad();
    const auto backward_start = TraceClock::now();
    losses[k].backward();
    if (!replicas_.empty()) {
      replicas_[k]->synchronize();
      const StepTimeline& t = replicas_[k]->last_timeline();
      costs_.communication += t.communication_seconds();
      costs_.exposed_communication +=
          std::chrono::duration<double>(t.synchronized - t.backward_end).count();
      for (size_t b = 0; b < t.buckets.size(); ++b) {
        trace_->span(fmt::format("allreduce {} bucket {}", n.config.name, b),
                     TraceLane::Communication, t.buckets[b].launched, t.buckets[b].done, step_args);
      }
    }
    const auto optimizer_start = TraceClock::now();
    trace_->span("backward " + n.config.name, TraceLane::Compute, backward_start, optimizer_start,
                 step_args);
    clip_gradients(n.parameters, n.config.grad_clip);
    n.optimizer->step();
    trace_->span("optimizer " + n.config.name, TraceLane::Compute, optimizer_start,
                 TraceClock::now(), step_args);
    step_losses[k] = losses[k].item<double>();
  }
  population_.after_step(step, nets_, step_losses, metrics_);
  return outcome;
}

}  // namespace cohort
