#include "train/engines/fused_engine.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <map>

#include "cohort/network_state.h"
#include "cohort/optim.h"
#include "train/engines/comm_hook_choice.h"

namespace cohort {
namespace {

std::string momentum_name(size_t parameter) {
  return fmt::format("optim.{}.momentum_buffer", parameter);
}

// Every copy's momentum for parameter i, stacked; undefined unless all copies
// have one (they all step together, so a resumed run has all or none).
std::vector<at::Tensor> stacked_momentum(const std::vector<Network>& nets, size_t parameters) {
  std::vector<std::map<std::string, at::Tensor>> states;
  for (const auto& n : nets) {
    const NamedTensors s = capture_state(*n.model, *n.optimizer);
    states.emplace_back(s.begin(), s.end());
  }
  std::vector<at::Tensor> out(parameters);
  for (size_t i = 0; i < parameters; ++i) {
    std::vector<at::Tensor> copies;
    for (const auto& s : states) {
      const auto it = s.find(momentum_name(i));
      if (it != s.end()) copies.push_back(it->second);
    }
    if (copies.size() == nets.size()) out[i] = at::stack(copies);
  }
  return out;
}

// A K-vector as K doubles.
std::vector<double> doubles(const at::Tensor& values) {
  const at::Tensor d = values.to(at::kDouble).contiguous();
  return {d.data_ptr<double>(), d.data_ptr<double>() + d.numel()};
}

}  // namespace

FusedEngine::FusedEngine(const Config& config, const ProcessContext& ctx,
                         std::vector<Network>& nets)
    : nets_(nets),
      replicas_played_(ctx.accumulate),
      objective_(config.cooperate, parse_task(config.data.task), models_of(nets),
                 cooperating(nets)) {
  array_ = FusedArray(models_of(nets), int64_t(config.networks.front().model.input_shape.size()));
  array_->to(ctx.placement.device);  // the stacked copies are made on the host
  parameters_ = array_->parameters();
  std::vector<double> lrs, max_norms;
  for (const auto& n : nets_) {
    lrs.push_back(n.config.lr);
    max_norms.push_back(n.config.grad_clip);
    clips_ = clips_ || n.config.grad_clip > 0;
  }
  max_norms_ = at::tensor(max_norms, at::kFloat).to(ctx.placement.device);
  // check_training_plan made sure the copies share everything but the lr.
  const NetworkConfig& first = nets_.front().config;
  FusedSGDOptions options;
  options.momentum = first.momentum;
  options.nesterov = first.nesterov;
  options.weight_decay = first.weight_decay;
  optimizer_ = std::make_unique<FusedSGD>(parameters_, lrs, options);
  optimizer_->set_momentum_buffers(stacked_momentum(nets_, parameters_.size()));
  if (ctx.distributed())
    replica_ =
        std::make_unique<DistributedDataParallel>(array_.ptr(), ctx.comm, ddp_options(config));
}

// A rank of a job re-formed on fewer ranks plays several replicas
// (ProcessContext::accumulate, launch/elastic_plan.h): one chunk of the batch
// each, whose gradients it adds times 1/R under no_sync before the last
// chunk's backward reduces them, so the average over the ranks is the full
// world's over all the replicas. As ReplicaEngine::step_playing_replicas
// does, batch-norm statistics keep the first replica's update and the losses
// reported are the first replica's.
StepOutcome FusedEngine::step(const Batch& batch, int64_t step, int64_t total_steps) {
  for (size_t k = 0; k < nets_.size(); ++k) {
    const double lr = learning_rate_at(nets_[k].config, step, total_steps);
    if (lr != optimizer_->lr(int64_t(k))) optimizer_->set_lr(int64_t(k), lr);
  }
  optimizer_->zero_grad();
  const auto inputs = batch.inputs.chunk(replicas_played_);
  const auto targets = batch.targets.chunk(replicas_played_);
  std::vector<double> losses, accuracy(nets_.size(), 0.0);
  std::vector<at::Tensor> first_buffers;
  const auto forward_start = TraceClock::now();
  for (int64_t r = 0; r < replicas_played_; ++r) {
    const at::Tensor logits = array_->forward(inputs[r]);  // K x B x classes
    // Each copy's parameters appear only in its own loss, so the sum's
    // gradient is every copy's own.
    const at::Tensor total =
        at::stack(objective_.losses(step, inputs[r], logits.unbind(0), targets[r]));
    if (r == 0) {
      losses = doubles(total.detach());
      if (objective_.task() == Task::Classification) {
        const at::Tensor correct = logits.detach().argmax(2).eq(targets[r].unsqueeze(0)).sum(1);
        accuracy = doubles(correct.div(double(targets[r].size(0))));
      }
      if (replicas_played_ > 1)
        for (const auto& b : array_->buffers()) first_buffers.push_back(b.clone());
    }
    const at::Tensor loss = total.sum() / double(replicas_played_);
    if (replica_ && r + 1 < replicas_played_) {
      auto quiet = replica_->no_sync();
      loss.backward();
    } else {
      loss.backward();
    }
  }
  if (!first_buffers.empty()) {
    at::NoGradGuard no_grad;
    const auto buffers = array_->buffers();
    for (size_t i = 0; i < buffers.size(); ++i) buffers[i].copy_(first_buffers[i]);
  }
  if (replica_) {
    replica_->synchronize();
    account_ddp_step(replica_->last_timeline(), "fused", step);
  }
  const auto optimizer_start = TraceClock::now();
  trace_span(TraceLane::Compute, "forward+backward", "fused", forward_start, optimizer_start, step);
  if (clips_) clip_per_copy();
  optimizer_->step();
  trace_span(TraceLane::Compute, "optimizer", "fused", optimizer_start, TraceClock::now(), step);
  return {losses, accuracy};
}

void FusedEngine::clip_per_copy() {
  // clip_grad_norm_ term by term (libtorch 1.13): the norm of the parameters'
  // norms, then a factor max_norm / (norm + 1e-6) applied where it is below 1.
  torch::NoGradGuard no_grad;
  std::vector<at::Tensor> norms;
  for (const auto& p : parameters_)
    if (p.grad().defined()) norms.push_back(p.grad().flatten(1).norm(2, 1));
  if (norms.empty()) return;
  const at::Tensor total = at::stack(norms).norm(2, 0);  // K
  const at::Tensor factor = max_norms_ / (total + 1e-6);
  const at::Tensor scale =
      at::where((max_norms_ > 0).logical_and(factor < 1), factor, at::ones_like(factor));
  for (auto& p : parameters_) {
    if (!p.grad().defined()) continue;
    std::vector<int64_t> shape(p.dim(), 1);
    shape[0] = p.size(0);
    p.mutable_grad().mul_(scale.view(shape));
  }
}

void FusedEngine::gather_networks() {
  auto models = models_of(nets_);
  array_->split_into(models);
  const auto& momentum = optimizer_->momentum_buffers();
  for (size_t k = 0; k < nets_.size(); ++k) {
    auto& n = nets_[k];
    NamedTensors state;
    for (const auto& entry : capture_state(*n.model, *n.optimizer))
      if (entry.first.rfind("optim.", 0) != 0) state.push_back(entry);
    for (size_t i = 0; i < momentum.size(); ++i)
      if (momentum[i].defined()) state.emplace_back(momentum_name(i), momentum[i][int64_t(k)]);
    restore_state(*n.model, *n.optimizer, state, fmt::format("fused copy {}", k));
    set_learning_rate(*n.optimizer, optimizer_->lr(int64_t(k)));
  }
}

}  // namespace cohort
