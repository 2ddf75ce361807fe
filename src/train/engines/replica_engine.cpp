#include "train/engines/replica_engine.h"

#include <nlohmann/json.hpp>

#include "cohort/optim.h"
#include "train/engines/comm_hook_choice.h"

namespace cohort {

ReplicaEngine::ReplicaEngine(const Config& config, const ProcessContext& ctx,
                             std::vector<Network>& nets, MetricsLog& metrics)
    : nets_(nets),
      metrics_(metrics),
      objective_(config.cooperate, parse_task(config.data.task), models_of(nets), cooperating(nets),
                 specs_of(nets)),
      population_(config.cooperate, config.train.seed),
      groups_(NetworkShare{ctx.network_groups, nets.size()}, ctx.network_group, ctx.data_rank,
              ctx.network_peers()),
      replicas_(nets.size()),
      world_(ctx.comm),
      replica_group_(ctx.data_group()),
      replicas_played_(ctx.accumulate) {
  if (config.parallel.mode == "local-sgd")
    local_sgd_ = LocalSgdSchedule{config.parallel.local_after, config.parallel.average_every};
  if (!replica_group_) return;
  for (size_t k : groups_.owned()) {
    replicas_[k] = std::make_unique<DistributedDataParallel>(nets_[k].model.ptr(), replica_group_,
                                                             ddp_options(config));
  }
}

StepOutcome ReplicaEngine::step(const Batch& batch, int64_t step, int64_t total_steps) {
  if (replicas_played_ > 1) return step_playing_replicas(batch, step, total_steps);
  const std::vector<size_t>& owned = groups_.owned();
  std::vector<at::Tensor> logits(nets_.size());
  for (size_t k : owned) {
    const auto start = TraceClock::now();
    logits[k] = nets_[k].model->forward(batch.inputs);
    trace_span(TraceLane::Compute, "forward", nets_[k].config.name, start, TraceClock::now(), step);
  }
  if (groups_.spread()) {
    const auto start = TraceClock::now();
    if (objective_.needs_peer_logits()) groups_.exchange_logits(logits);
    if (objective_.refreshes_at(step)) groups_.refresh_copies(nets_);
    account_blocking_communication("exchange", "networks", start, TraceClock::now(), step);
  }
  const auto objective_start = TraceClock::now();
  const auto losses = objective_.losses(step, batch.inputs, logits, batch.targets, &owned);
  trace_span(TraceLane::Compute, "loss", "", objective_start, TraceClock::now(), step);
  StepOutcome outcome;
  outcome.loss.assign(nets_.size(), 0.0);
  outcome.accuracy.assign(nets_.size(), 0.0);
  for (size_t k : owned) {
    outcome.accuracy[k] = batch_accuracy(objective_.task(), logits[k], batch.targets);
  }
  for (size_t k : owned) {
    auto& n = nets_[k];
    set_learning_rate(*n.optimizer, learning_rate_at(n.config, step, total_steps));
    n.optimizer->zero_grad();
    const auto backward_start = TraceClock::now();
    const bool alone = local_sgd_ && !local_sgd_->synchronous(step);
    if (alone && replicas_[k]) {
      auto quiet = replicas_[k]->no_sync();
      losses[k].backward();
    } else {
      losses[k].backward();
    }
    if (replicas_[k] && !alone) {
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
    outcome.loss[k] = losses[k].item<double>();
  }
  if (local_sgd_ && local_sgd_->average_after(step)) average_replicas(step);
  groups_.exchange_outcome(outcome.loss, outcome.accuracy);
  population_.after_step(step, nets_, outcome.loss, metrics_, [this](size_t member, size_t parent) {
    groups_.copy_network(nets_, member, parent);
  });
  return outcome;
}

// The batch holds the replicas' batches one after the other. Each backward
// adds 1/R of its replica's gradient (R replicas played), so what DDP then
// averages over the ranks is the mean over all the config's replicas, as in the
// full world. Batch-norm statistics keep the first replica's update, as the
// full world keeps rank 0's (DDP broadcasts its buffers), and the loss reported
// is the first replica's, as the full world's leader reports its own.
// Elastic jobs are plain data parallel (check_elastic_plan): one network group,
// synchronous, so none of step()'s exchanges apply.
StepOutcome ReplicaEngine::step_playing_replicas(const Batch& batch, int64_t step,
                                                 int64_t total_steps) {
  const std::vector<size_t>& owned = groups_.owned();
  const auto inputs = batch.inputs.chunk(replicas_played_);
  const auto targets = batch.targets.chunk(replicas_played_);
  StepOutcome outcome;
  outcome.loss.assign(nets_.size(), 0.0);
  outcome.accuracy.assign(nets_.size(), 0.0);
  std::vector<std::vector<at::Tensor>> first_buffers(nets_.size());
  for (size_t k : owned) {
    set_learning_rate(*nets_[k].optimizer, learning_rate_at(nets_[k].config, step, total_steps));
    nets_[k].optimizer->zero_grad();
  }
  const auto compute_start = TraceClock::now();
  for (int64_t r = 0; r < replicas_played_; ++r) {
    std::vector<at::Tensor> logits(nets_.size());
    for (size_t k : owned) logits[k] = nets_[k].model->forward(inputs[r]);
    const auto losses = objective_.losses(step, inputs[r], logits, targets[r], &owned);
    const bool last = r + 1 == replicas_played_;
    for (size_t k : owned) {
      if (r == 0) {
        outcome.loss[k] = losses[k].item<double>();
        outcome.accuracy[k] = batch_accuracy(objective_.task(), logits[k], targets[r]);
        for (const auto& b : nets_[k].model->buffers()) first_buffers[k].push_back(b.clone());
      }
      const at::Tensor share = losses[k] / double(replicas_played_);
      if (!last && replicas_[k]) {
        auto quiet = replicas_[k]->no_sync();
        share.backward();
      } else {
        share.backward();
      }
    }
  }
  trace_span(TraceLane::Compute, "forward+backward", "", compute_start, TraceClock::now(), step);
  for (size_t k : owned) {
    auto& n = nets_[k];
    {
      at::NoGradGuard no_grad;
      const auto buffers = n.model->buffers();
      for (size_t i = 0; i < buffers.size(); ++i) buffers[i].copy_(first_buffers[k][i]);
    }
    if (replicas_[k]) {
      replicas_[k]->synchronize();
      account_ddp_step(replicas_[k]->last_timeline(), n.config.name, step);
    }
    const auto optimizer_start = TraceClock::now();
    clip_gradients(n.parameters, n.config.grad_clip);
    n.optimizer->step();
    trace_span(TraceLane::Compute, "optimizer", n.config.name, optimizer_start, TraceClock::now(),
               step);
  }
  population_.after_step(step, nets_, outcome.loss, metrics_, [this](size_t member, size_t parent) {
    groups_.copy_network(nets_, member, parent);
  });
  return outcome;
}

void ReplicaEngine::average_replicas(int64_t step) {
  if (!replica_group_) return;
  const auto start = TraceClock::now();
  for (size_t k : groups_.owned()) average_parameters(*nets_[k].model, *replica_group_);
  account_blocking_communication("average replicas", "", start, TraceClock::now(), step);
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
  groups_.gather_to_leader(nets_);
}

bool ReplicaEngine::agree(bool leader_decision) {
  if (!world_ || (!local_sgd_ && !groups_.spread())) return leader_decision;
  return broadcast_decision(*world_, leader_decision);
}

}  // namespace cohort
