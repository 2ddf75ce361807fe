#include "train/engines/replica_engine.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "cohort/optim.h"
#include "cohort/tensor_parallel.h"
#include "observe/allocation_meter.h"
#include "train/cohort/member_exchange.h"
#include "train/cohort/network_groups.h"
#include "train/engines/comm_hook_choice.h"
#include "train/engines/sharded_network.h"

namespace cohort {
namespace {

// Shards network `net` among its replicas' `group`: the network itself, or
// its tensor-parallel form (`sliced`), whose optimiser then holds the whole
// slice's state between the shards and the whole network's.
std::unique_ptr<ShardedDataParallel> make_sharded_network(const Config& config, Network& net,
                                                          TensorNetwork* sliced,
                                                          const CommunicatorPtr& group,
                                                          const CommunicatorPtr& slices) {
  if (!sliced) return make_sharded(config, net.config, net.model, *net.optimizer, group);
  std::vector<bool> split;
  for (int64_t dim : tp::split_dims(sliced->model())) split.push_back(dim >= 0);
  return make_sharded(config, net.config, sliced->model(), sliced->optimizer(), group, slices,
                      std::move(split));
}

std::unique_ptr<NetworkExchange> make_exchange(const ProcessContext& ctx, size_t networks,
                                               int64_t batch_rows) {
  if (ctx.members)
    return std::make_unique<MemberExchange>(ctx.members, ctx.world.rank, ctx.comm,
                                            ctx.member_groups, batch_rows, ctx.placement.device);
  return std::make_unique<NetworkGroups>(NetworkShare{ctx.network_groups, networks},
                                         ctx.network_group, ctx.data_rank, ctx.network_peers(),
                                         ctx.data_group());
}

at::Tensor rows_of(const at::Tensor& t, const at::Tensor& rows) {
  return rows.defined() ? t.index_select(0, rows) : t;
}

}  // namespace

ReplicaEngine::ReplicaEngine(const Config& config, const ProcessContext& ctx,
                             std::vector<Network>& nets, MetricsLog& metrics, int64_t batch_rows,
                             const at::Tensor& sample)
    : nets_(nets),
      metrics_(metrics),
      objective_(config.cooperate, parse_task(config.data.task), models_of(nets), cooperating(nets),
                 specs_of(nets)),
      population_(config.cooperate, config.train.seed),
      exchange_(make_exchange(ctx, nets.size(), batch_rows)),
      replicas_(nets.size()),
      sharded_(nets.size()),
      tensor_(nets.size()),
      activations_(nets.size(), 0),
      world_(ctx.comm),
      member_layouts_(ctx.members != nullptr),
      replicas_played_(ctx.accumulate) {
  if (config.parallel.mode == "local-sgd")
    local_sgd_ = LocalSgdSchedule{config.parallel.local_after, config.parallel.average_every};
  if (ctx.members) {
    member_exchange_ = static_cast<MemberExchange*>(exchange_.get());
    for (size_t k = 0; k < nets_.size(); ++k) pipelined_.push_back(ctx.members->pipelined(k));
    if (std::find(pipelined_.begin(), pipelined_.end(), true) != pipelined_.end())
      pipelines_ = std::make_unique<MemberPipelines>(config, ctx, nets_, sample, metrics_);
  }
  for (size_t k : exchange_->owned()) {
    if (const CommunicatorPtr slices = ctx.tensor_group())
      tensor_[k] = std::make_unique<TensorNetwork>(nets_[k], slices);
    const CommunicatorPtr group = exchange_->replica_group(k);
    if (!group) continue;
    if (config.parallel.shard > 0) {
      sharded_[k] =
          make_sharded_network(config, nets_[k], tensor_[k].get(), group, ctx.tensor_group());
      continue;
    }
    replicas_[k] =
        std::make_unique<DistributedDataParallel>(trained_module(k), group, ddp_options(config));
  }
}

bool ReplicaEngine::replicated(size_t k) const {
  const CommunicatorPtr group = exchange_->replica_group(k);
  return group && group->size() > 1;
}

// One objective call per set of networks that train on the same rows; the
// peers' logits are cut to those rows.
std::vector<at::Tensor> ReplicaEngine::owned_losses(int64_t step, const Batch& batch,
                                                    const std::vector<at::Tensor>& logits,
                                                    const std::vector<at::Tensor>& peers) {
  std::vector<at::Tensor> losses(nets_.size());
  for (const std::vector<size_t>& group : exchange_->row_groups()) {
    const at::Tensor rows = exchange_->rows(group.front());
    std::vector<at::Tensor> seen(nets_.size());
    for (size_t j = 0; j < nets_.size(); ++j) {
      if (std::find(group.begin(), group.end(), j) != group.end())
        seen[j] = logits[j];
      else if (j < peers.size() && peers[j].defined())
        seen[j] = rows_of(peers[j], rows);
    }
    const auto mine = objective_.losses(step, rows_of(batch.inputs, rows), seen,
                                        rows_of(batch.targets, rows), &group);
    for (size_t k : group) losses[k] = mine[k];
  }
  return losses;
}

StepOutcome ReplicaEngine::step(const Batch& batch, int64_t step, int64_t total_steps) {
  if (replicas_played_ > 1) return step_playing_replicas(batch, step, total_steps);
  release_gathered_state();
  const std::vector<size_t>& owned = exchange_->owned();
  std::vector<at::Tensor> logits(nets_.size());
  for (size_t k : owned) {
    const auto start = TraceClock::now();
    logits[k] = metered_forward(k, rows_of(batch.inputs, exchange_->rows(k)));
    trace_span(TraceLane::Compute, "forward", nets_[k].config.name, start, TraceClock::now(), step);
  }
  // Codistillation's copies are taken from the models' parameters.
  const bool refresh = objective_.refreshes_at(step);
  const auto whole =
      refresh ? gather_whole_parameters() : std::vector<ShardedDataParallel::WholeParameters>{};
  if (refresh)
    for (size_t k : owned)
      if (tensor_[k]) tensor_[k]->gather_into_whole(false);
  std::vector<at::Tensor> peers;
  if (exchange_->spread()) {
    const auto start = TraceClock::now();
    if (objective_.needs_peer_logits()) {
      // Pipelined members' predictions come with their steps, below.
      peers = pipelines_ ? member_exchange_->peer_logits_of(logits, not_pipelined(),
                                                            logits_like(batch.inputs))
                         : exchange_->peer_logits(logits);
    }
    if (refresh) {
      if (pipelines_) pipelines_->gather_networks();  // each lead sends its whole member
      exchange_->refresh_copies(nets_);
    }
    account_blocking_communication("exchange", "networks", start, TraceClock::now(), step);
  }
  // Before the pipelines' stages step: the copies hold the weights the step
  // began with (and every rank refreshes at the same steps).
  if (refresh && pipelines_) objective_.refresh_copies(step);
  StepOutcome outcome;
  outcome.loss.assign(nets_.size(), 0.0);
  outcome.accuracy.assign(nets_.size(), 0.0);
  if (pipelines_) step_pipelines(batch, step, total_steps, logits, peers, outcome);
  const auto objective_start = TraceClock::now();
  const auto losses = owned_losses(step, batch, logits, peers);
  trace_span(TraceLane::Compute, "loss", "", objective_start, TraceClock::now(), step);
  for (size_t k : owned) {
    outcome.accuracy[k] =
        batch_accuracy(objective_.task(), logits[k], rows_of(batch.targets, exchange_->rows(k)));
  }
  for (size_t k : owned) {
    outcome.loss[k] = losses[k].item<double>();
    train_network(k, losses[k], step, total_steps);
  }
  if (!memory_recorded_ && AllocationMeter::attached()) record_memory(step);
  if (local_sgd_ && local_sgd_->average_after(step)) average_replicas(step);
  exchange_->exchange_outcome(outcome.loss, outcome.accuracy);
  population_.after_step(step, nets_, outcome.loss, metrics_, [this](size_t member, size_t parent) {
    exchange_->copy_network(nets_, member, parent);
  });
  costs_.exchange_bytes += exchange_->take_bytes_sent();
  return outcome;
}

// The batch holds the replicas' batches one after the other. Each backward
// adds 1/R of its replica's gradient (R replicas played), so what DDP (or the
// sharded reduce-scatter) then averages over the ranks is the mean over all the
// config's replicas, as in the full world; a tensor-parallel rank does the same
// for its slice. Batch-norm statistics keep the first replica's update, as the
// full world keeps rank 0's (DDP broadcasts its buffers), and the loss reported
// is the first replica's, as the full world's leader reports its own.
// Elastic jobs have one network group and train synchronously
// (check_elastic_plan), so none of step()'s exchanges apply.
StepOutcome ReplicaEngine::step_playing_replicas(const Batch& batch, int64_t step,
                                                 int64_t total_steps) {
  release_gathered_state();
  const std::vector<size_t>& owned = exchange_->owned();
  const auto inputs = batch.inputs.chunk(replicas_played_);
  const auto targets = batch.targets.chunk(replicas_played_);
  StepOutcome outcome;
  outcome.loss.assign(nets_.size(), 0.0);
  outcome.accuracy.assign(nets_.size(), 0.0);
  std::vector<std::vector<at::Tensor>> first_buffers(nets_.size());
  for (size_t k : owned) begin_update(k, step, total_steps);
  const auto compute_start = TraceClock::now();
  for (int64_t r = 0; r < replicas_played_; ++r) {
    std::vector<at::Tensor> logits(nets_.size());
    for (size_t k : owned)
      logits[k] = r == 0 ? metered_forward(k, inputs[r]) : forward(k, inputs[r]);
    const auto losses = objective_.losses(step, inputs[r], logits, targets[r], &owned);
    const bool last = r + 1 == replicas_played_;
    for (size_t k : owned) {
      if (r == 0) {
        outcome.loss[k] = losses[k].item<double>();
        outcome.accuracy[k] = batch_accuracy(objective_.task(), logits[k], targets[r]);
        for (const auto& b : trained_module(k)->buffers()) first_buffers[k].push_back(b.clone());
      }
      backward(k, losses[k] / double(replicas_played_), /*average=*/last);
    }
  }
  trace_span(TraceLane::Compute, "forward+backward", "", compute_start, TraceClock::now(), step);
  for (size_t k : owned) {
    {
      at::NoGradGuard no_grad;
      const auto buffers = trained_module(k)->buffers();
      for (size_t i = 0; i < buffers.size(); ++i) buffers[i].copy_(first_buffers[k][i]);
    }
    apply_update(k, step, /*averaged=*/true);
  }
  if (!memory_recorded_ && AllocationMeter::attached()) record_memory(step);
  population_.after_step(step, nets_, outcome.loss, metrics_, [this](size_t member, size_t parent) {
    exchange_->copy_network(nets_, member, parent);
  });
  return outcome;
}

std::vector<bool> ReplicaEngine::not_pipelined() const {
  std::vector<bool> out(pipelined_.size());
  for (size_t k = 0; k < out.size(); ++k) out[k] = !pipelined_[k];
  return out;
}

void ReplicaEngine::step_pipelines(const Batch& batch, int64_t step, int64_t total_steps,
                                   std::vector<at::Tensor>& logits, std::vector<at::Tensor>& peers,
                                   StepOutcome& outcome) {
  const bool mutual = objective_.needs_peer_logits();
  pipelines_->set_trace(trace_);
  for (size_t k : pipelines_->held()) {
    const at::Tensor rows = exchange_->rows(k);
    const Batch replica{rows_of(batch.inputs, rows), rows_of(batch.targets, rows)};
    const PipelineLoss loss = [&, k](const at::Tensor& output, const at::Tensor& targets,
                                     int64_t first_row) {
      return pipelined_loss(k, step, batch, peers, output, targets, first_row);
    };
    const auto stepped = pipelines_->step(k, replica, loss, step, total_steps);
    outcome.loss[k] = stepped.loss;
    outcome.accuracy[k] = stepped.accuracy;
    logits[k] = stepped.logits;
  }
  pipelines_->add_costs(costs_);
  if (!mutual) return;
  const auto start = TraceClock::now();
  const auto theirs =
      member_exchange_->peer_logits_of(logits, pipelined_, logits_like(batch.inputs));
  account_blocking_communication("exchange", "pipelines' predictions", start, TraceClock::now(),
                                 step);
  peers.resize(nets_.size());
  for (size_t k = 0; k < nets_.size(); ++k)
    if (pipelined_[k]) peers[k] = theirs[k];
}

// The objective on the micro-batch's rows of the global batch, as the one
// process computes it on all of them: the member's own output, and its peers'
// predictions cut to those rows.
at::Tensor ReplicaEngine::pipelined_loss(size_t k, int64_t step, const Batch& batch,
                                         const std::vector<at::Tensor>& peers,
                                         const at::Tensor& output, const at::Tensor& targets,
                                         int64_t first_row) {
  const int64_t n = output.size(0);
  const at::Tensor replica = exchange_->rows(k);
  const at::Tensor rows =
      replica.defined()
          ? replica.narrow(0, first_row, n)
          : at::arange(first_row, first_row + n,
                       at::TensorOptions().dtype(at::kLong).device(batch.inputs.device()));
  std::vector<at::Tensor> seen(nets_.size());
  for (size_t j = 0; j < nets_.size(); ++j) {
    if (j == k)
      seen[j] = output;
    else if (j < peers.size() && peers[j].defined())
      seen[j] = peers[j].index_select(0, rows);
  }
  const std::vector<size_t> only{k};
  return objective_.losses(step, batch.inputs.index_select(0, rows), seen, targets, &only)[k];
}

// The shape and dtype of a member's predictions (under the step's autocast),
// from one row through a pipelined member's whole copy in evaluation mode and
// without gradients: batch-norm statistics and dropout's random numbers are
// left as they were. Needed by a rank that computes no predictions before
// the pipelines' steps but receives some.
const at::Tensor& ReplicaEngine::logits_like(const at::Tensor& inputs) {
  if (logits_like_.defined()) return logits_like_;
  const size_t k =
      size_t(std::find(pipelined_.begin(), pipelined_.end(), true) - pipelined_.begin());
  torch::nn::Sequential& model = nets_[k].model;
  at::NoGradGuard no_grad;
  const bool training = model->is_training();
  model->eval();
  logits_like_ = model->forward(inputs.slice(0, 0, 1)).slice(0, 0, 0);
  model->train(training);
  return logits_like_;
}

void ReplicaEngine::average_replicas(int64_t step) {
  const auto start = TraceClock::now();
  for (size_t k : exchange_->owned())
    if (replicated(k)) average_parameters(*nets_[k].model, *exchange_->replica_group(k));
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

// On the metered step, the bytes network k's forward leaves held for backward
// (-1 where a profiler was listening instead).
at::Tensor ReplicaEngine::metered_forward(size_t k, const at::Tensor& inputs) {
  const AllocationMeter* meter = AllocationMeter::attached();
  const int64_t before = meter ? meter->current() : 0;
  at::Tensor logits = forward(k, inputs);
  if (meter) activations_[k] = meter->active() ? meter->current() - before : -1;
  return logits;
}

at::Tensor ReplicaEngine::forward(size_t k, const at::Tensor& inputs) {
  if (sharded_[k]) return sharded_[k]->forward(inputs);
  if (tensor_[k]) return tensor_[k]->model()->forward(inputs);
  return nets_[k].model->forward(inputs);
}

std::vector<ShardedDataParallel::WholeParameters> ReplicaEngine::gather_whole_parameters() {
  std::vector<ShardedDataParallel::WholeParameters> whole;
  for (size_t k : exchange_->owned())
    if (sharded_[k] && sharded_[k]->stage() == 3) whole.push_back(sharded_[k]->gather_whole());
  return whole;
}

// Shards are gathered first: a tensor-parallel form that is sharded gathers
// its slices from them.
void ReplicaEngine::gather_networks() {
  if (whole_parameters_.empty()) whole_parameters_ = gather_whole_parameters();
  for (size_t k : exchange_->owned()) {
    if (sharded_[k]) {
      sharded_[k]->gather_optimizer_state(tensor_[k] ? tensor_[k]->optimizer()
                                                     : *nets_[k].optimizer);
      whole_state_gathered_ = true;
    }
    if (tensor_[k]) {
      tensor_[k]->gather_into_whole(true);
      whole_state_gathered_ = true;
    }
  }
  if (local_sgd_) average_replicas(-1);
  if (pipelines_) pipelines_->gather_networks();
  exchange_->gather_to_leader(nets_);
}

bool ReplicaEngine::agree(bool leader_decision) {
  const bool sharded =
      std::any_of(sharded_.begin(), sharded_.end(), [](const auto& s) { return s != nullptr; });
  const bool sliced =
      std::any_of(tensor_.begin(), tensor_.end(), [](const auto& t) { return t != nullptr; });
  if (!world_ || (!local_sgd_ && !exchange_->spread() && !sharded && !sliced && !member_layouts_))
    return leader_decision;
  return broadcast_decision(*world_, leader_decision);
}

// The whole state is for the checkpoint just written; keeping it would undo
// the sharding's saving.
void ReplicaEngine::release_gathered_state() {
  whole_parameters_.clear();
  for (size_t k : exchange_->owned())
    if (tensor_[k]) tensor_[k]->release_whole();
  if (!whole_state_gathered_) return;
  for (size_t k : exchange_->owned()) {
    if (!sharded_[k]) continue;
    nets_[k].optimizer->state().clear();
    if (tensor_[k]) tensor_[k]->optimizer().state().clear();
  }
  whole_state_gathered_ = false;
}

std::shared_ptr<torch::nn::Module> ReplicaEngine::trained_module(size_t k) const {
  return tensor_[k] ? tensor_[k]->model().ptr() : nets_[k].model.ptr();
}

// One step of network k: backward (DDP averaging the replicas' gradients as it
// runs, unless local SGD trains alone now), then the optimiser's step.
void ReplicaEngine::train_network(size_t k, const at::Tensor& loss, int64_t step,
                                  int64_t total_steps) {
  begin_update(k, step, total_steps);
  const bool averaged = !(local_sgd_ && !local_sgd_->synchronous(step));
  const auto backward_start = TraceClock::now();
  backward(k, loss, averaged);
  trace_span(TraceLane::Compute, "backward", nets_[k].config.name, backward_start,
             TraceClock::now(), step);
  apply_update(k, step, averaged);
}

void ReplicaEngine::begin_update(size_t k, int64_t step, int64_t total_steps) {
  const double rate = learning_rate_at(nets_[k].config, step, total_steps);
  if (sharded_[k]) {
    set_learning_rate(sharded_[k]->optimizer(), rate);
    sharded_[k]->zero_grad();
    return;
  }
  torch::optim::Optimizer& optimizer = tensor_[k] ? tensor_[k]->optimizer() : *nets_[k].optimizer;
  set_learning_rate(optimizer, rate);
  optimizer.zero_grad();
}

// DDP's and sharded gradients are averaged during the backward that is not
// under no_sync() (a rank playing several replicas reduces once, at its last).
void ReplicaEngine::backward(size_t k, const at::Tensor& loss, bool average) {
  if (!average && replicas_[k]) {
    auto quiet = replicas_[k]->no_sync();
    loss.backward();
  } else if (!average && sharded_[k]) {
    auto quiet = sharded_[k]->no_sync();
    loss.backward();
  } else {
    loss.backward();
  }
}

void ReplicaEngine::apply_update(size_t k, int64_t step, bool averaged) {
  const Network& n = nets_[k];
  const auto start = TraceClock::now();
  if (sharded_[k]) {
    sharded_[k]->step();
    trace_span(TraceLane::Compute, "sharded step", n.config.name, start, TraceClock::now(), step);
    // What backward's reductions hid is not known; what they and the step's
    // collectives made this rank wait is.
    costs_.communication += sharded_[k]->last_communication_seconds();
    costs_.exposed_communication += sharded_[k]->last_communication_seconds();
    return;
  }
  if (replicas_[k] && averaged) {
    replicas_[k]->synchronize();
    account_ddp_step(replicas_[k]->last_timeline(), n.config.name, step);
  }
  const auto optimizer_start = TraceClock::now();
  if (tensor_[k]) {
    tensor_[k]->clip(n.config.grad_clip);
    tensor_[k]->optimizer().step();
  } else {
    clip_gradients(n.parameters, n.config.grad_clip);
    n.optimizer->step();
  }
  trace_span(TraceLane::Compute, "optimizer", n.config.name, optimizer_start, TraceClock::now(),
             step);
}

std::vector<NetworkMemory> ReplicaEngine::memory() const {
  std::vector<NetworkMemory> held;
  for (size_t k : exchange_->owned()) {
    const Network& n = nets_[k];
    const ShardMemory s = sharded_[k]  ? sharded_[k]->memory()
                          : tensor_[k] ? tensor_[k]->memory()
                                       : whole_model_memory(n.parameters, *n.optimizer);
    held.push_back({n.config.name, s.parameters, s.gradients, s.optimizer, activations_[k]});
  }
  return held;
}

// On the metered step (the run's second), when gradients and optimiser state
// exist and the forwards' activations were counted.
void ReplicaEngine::record_memory(int64_t step) {
  memory_recorded_ = true;
  for (const NetworkMemory& m : memory())
    metrics_.write(nlohmann::json{{"kind", "memory"},
                                  {"network", m.name},
                                  {"step", step + 1},
                                  {"parameters_bytes", m.parameters},
                                  {"gradients_bytes", m.gradients},
                                  {"optimizer_bytes", m.optimizer},
                                  {"activation_bytes", m.activations}}
                       .dump());
}

void ReplicaEngine::finish(RunSummary& summary) {
  summary.memory = memory();
  if (whole_parameters_.empty()) whole_parameters_ = gather_whole_parameters();
}

ReplicaEngine::~ReplicaEngine() {
  for (auto& whole : whole_parameters_) whole.keep();
}

}  // namespace cohort
