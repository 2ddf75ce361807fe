#include "train/replica_engine.h"

#include <nlohmann/json.hpp>

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
  comm_ = ctx.comm;
  if (config.parallel.mode == "local-sgd")
    local_sgd_ = LocalSgdSchedule{config.parallel.local_after, config.parallel.average_every};
  for (auto& n : nets_) {
    DdpOptions ddp;
    ddp.bucket_cap_bytes = int64_t(config.parallel.bucket_mb * 1024 * 1024);
    ddp.comm_hook = make_comm_hook(config.parallel.comm_hook, config.train.seed);
    replicas_.push_back(std::make_unique<DistributedDataParallel>(n.model.ptr(), ctx.comm, ddp));
  }
}

StepOutcome ReplicaEngine::step(const Batch& batch, int64_t step, int64_t total_steps) {
  std::vector<at::Tensor> logits;
  logits.reserve(nets_.size());
  for (auto& n : nets_) {
    const auto start = TraceClock::now();
    logits.push_back(n.model->forward(batch.inputs));
    trace_span(TraceLane::Compute, "forward", n.config.name, start, TraceClock::now(), step);
  }
  const auto objective_start = TraceClock::now();
  const auto losses = objective_.losses(step, batch.inputs, logits, batch.targets);
  trace_span(TraceLane::Compute, "loss", "", objective_start, TraceClock::now(), step);
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
    const bool alone = local_sgd_ && !local_sgd_->synchronous(step);
    if (alone) {
      auto quiet = replicas_[k]->no_sync();
      losses[k].backward();
    } else {
      losses[k].backward();
    }
    if (!replicas_.empty() && !alone) {
      replicas_[k]->synchronize();
      account_ddp_step(replicas_[k]->last_timeline(), n.config.name, step);
    }
    const auto optimizer_start = TraceClock::now();
    trace_span(TraceLane::Compute, "backward", n.config.name, backward_start, optimizer_start,
               step);
    clip_gradients(n.parameters, n.config.grad_clip);
    n.optimizer->step();
    trace_span(TraceLane::Compute, "optimizer", n.config.name, optimizer_start, TraceClock::now(),
               step);
    step_losses[k] = losses[k].item<double>();
  }
  if (local_sgd_ && local_sgd_->average_after(step)) average_replicas(step);
  population_.after_step(step, nets_, step_losses, metrics_);
  return outcome;
}

void ReplicaEngine::average_replicas(int64_t step) {
  const auto start = TraceClock::now();
  for (auto& n : nets_) average_parameters(*n.model, *comm_);
  const auto end = TraceClock::now();
  const double seconds = std::chrono::duration<double>(end - start).count();
  costs_.communication += seconds;
  costs_.exposed_communication += seconds;  // nothing runs while the replicas are averaged
  trace_span(TraceLane::Communication, "average replicas", "", start, end, step);
}

std::string ReplicaEngine::checkpoint_state() const {
  const auto interval = population_.interval_so_far();
  return nlohmann::json{{"pbt_loss_sums", interval.loss_sums}, {"pbt_steps", interval.steps}}
      .dump();
}

void ReplicaEngine::restore_checkpoint_state(const std::string& json) {
  const auto state = nlohmann::json::parse(json);
  if (!state.contains("pbt_steps")) return;
  population_.resume(
      {state.at("pbt_loss_sums").get<std::vector<double>>(), state.at("pbt_steps").get<int64_t>()});
}

void ReplicaEngine::gather_networks() {
  if (local_sgd_) average_replicas(-1);
}

}  // namespace cohort
