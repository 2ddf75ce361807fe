#include "train/engines/pipeline_engine.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>

#include "cohort/network_state.h"
#include "cohort/optim.h"
#include "cohort/pipeline/schedule.h"
#include "cohort/tensor_parallel.h"
#include "comm/message_tags.h"
#include "train/engines/comm_hook_choice.h"
#include "train/engines/sharded_network.h"
#include "train/engines/stage_state.h"
#include "train/record/run_dir.h"

namespace cohort {
namespace {

double seconds_of(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}

}  // namespace

PipelineEngine::PipelineEngine(const Config& config, PipelineSeat seat, Network& net,
                               const at::Tensor& sample, std::string run_dir, MetricsLog& metrics,
                               int64_t timeline_step)
    : seat_(std::move(seat)),
      net_(net),
      run_dir_(std::move(run_dir)),
      metrics_(metrics),
      timeline_step_(timeline_step) {
  const auto& p = config.parallel;
  // Agreed by every rank of the network, not per replica: measured timings
  // differ between processes, and replicas must cut alike for their gradients
  // to match.
  partition_ = agree_partition(*seat_.network, net_.model, seat_.stages,
                               parse_partition_method(p.partition), sample);
  whole_stage_ = stage_layers(net_.model, partition_, seat_.stage);
  if (const auto& slices = seat_.slices) {
    // The stage's layers split among the slices (cohort/tensor_parallel.h),
    // with their own optimiser: a resumed network's state is split into it.
    auto form = tp::parallel_form(whole_stage_, slices);
    slice_optimizer_ = make_optimizer(net_.config, form->parameters());
    tp::load_optimizer_state(whole_stage_, *net_.optimizer, form, *slice_optimizer_, *slices);
    net_.optimizer->state().clear();
    stage_ = std::make_unique<PipelineStage>(form, seat_.pipeline);
  } else {
    stage_ = std::make_unique<PipelineStage>(whole_stage_, seat_.pipeline);
  }
  options_.schedule = parse_schedule(p.schedule);
  // A rank of a re-formed job plays several replicas (ProcessContext::accumulate)
  // as the micro-batches of each, one after the other in one pipeline step: a
  // micro-batch's loss is scaled by its share of all the rows, so what DDP
  // averages over the replicas left is the full world's mean gradient.
  options_.micro_batches = int(p.micro_batches) * seat_.accumulate;
  options_.recompute = p.recompute;
  options_.task = parse_task(config.data.task);
  if (const auto& group = seat_.replicas; group && p.shard > 0) {
    // Each stage's parameters are its own: their squares add up over the stages.
    const auto& stages = seat_.pipeline;
    sharded_ = make_sharded(config, net_.config, stage_->layers(), *net_.optimizer, group, stages,
                            std::vector<bool>(stage_->parameters().size(), stages != nullptr));
    options_.before_backward = [this](bool last) {
      if (last) sharded_accumulating_.reset();
    };
    options_.zero_grad = [this] { sharded_->zero_grad(); };
  } else if (group) {
    replicas_ = std::make_unique<DistributedDataParallel>(stage_->layers().ptr(), group,
                                                          ddp_options(config));
    options_.before_backward = [this](bool last) {
      if (last) accumulating_.reset();
    };
  }
}

StepOutcome PipelineEngine::step(const Batch& batch, int64_t step, int64_t total_steps) {
  // The whole state gathered for the last checkpoint is stale from here on.
  if (slice_optimizer_ || sharded_) net_.optimizer->state().clear();
  torch::optim::Optimizer& optimizer = sharded_           ? sharded_->optimizer()
                                       : slice_optimizer_ ? *slice_optimizer_
                                                          : *net_.optimizer;
  set_learning_rate(optimizer, learning_rate_at(net_.config, step, total_steps));
  // The optimiser holds the whole network; layers of other stages have no
  // gradient and the optimisers skip them.
  if (replicas_ && options_.micro_batches > 1) accumulating_.emplace(*replicas_);
  if (sharded_ && options_.micro_batches > 1) sharded_accumulating_.emplace(*sharded_);
  const StepResult result = run_pipeline_step(*stage_, batch, options_, [&] {
    if (sharded_) {  // reduces what backward left, clips over shards and stages, steps
      sharded_->step();
      // As the replica engine counts it: what the step's collectives made this rank wait.
      costs_.communication += sharded_->last_communication_seconds();
      costs_.exposed_communication += sharded_->last_communication_seconds();
      return;
    }
    if (replicas_) {
      replicas_->synchronize();
      account_ddp_step(replicas_->last_timeline(), "", step);
    }
    clip_gradients_across_stages(net_.config.grad_clip);
    optimizer.step();
  });
  // Only the last stage computes loss and accuracy; the leader reports them.
  at::Tensor outcome = at::tensor(
      {result.loss, double(result.correct), double(std::max<int64_t>(1, result.samples))},
      at::kDouble);
  stage_->comm().broadcast(outcome, seat_.stages - 1);
  const auto o = outcome.accessor<double, 1>();
  costs_.pipeline_idle += result.idle_seconds;
  if (trace_->enabled()) trace_step(result, step);
  if (step == timeline_step_) report_timeline(result, step);
  return {{o[0]}, {o[1] / o[2]}};
}

void PipelineEngine::clip_gradients_across_stages(double max_norm) {
  if (max_norm <= 0) return;
  // The norm of the whole network's gradient, as one process would clip it:
  // the stage's (its slices' together), summed over the stages.
  at::Tensor squares = at::zeros({1}, at::kDouble);
  if (slice_optimizer_) {
    squares += tp::squared_grad_norm(stage_->layers(), *seat_.slices);
  } else {
    for (const auto& p : stage_->parameters())
      if (p.grad().defined()) squares += p.grad().to(at::kDouble).pow(2).sum().cpu();
  }
  stage_->comm().allreduce(squares, ReduceOp::Sum);
  const double norm = std::sqrt(squares.item<double>());
  const double coefficient = max_norm / (norm + 1e-6);
  if (coefficient >= 1) return;
  for (const auto& p : stage_->parameters()) {
    if (p.grad().defined()) p.grad().mul_(coefficient);
  }
}

void PipelineEngine::gather_networks() {
  // A sharded stage's state is gathered from its replicas' shards first
  // (collective over them; stages 1 and 2 keep the weights whole).
  if (sharded_) sharded_->gather_optimizer_state(*net_.optimizer);
  // Replicas hold identical weights: replica 0's stages are enough.
  if (seat_.replica != 0) return;
  // Each slice's stage first takes its layers whole (collective over the
  // slices); then the slices of every stage gather alike, each into its own
  // stage 0, of which the leader saves.
  if (slice_optimizer_) {
    tp::gather_into(stage_->layers(), whole_stage_);
    tp::gather_optimizer_state(stage_->layers(), *slice_optimizer_, whole_stage_, *net_.optimizer,
                               *seat_.slices);
  }
  NamedTensors mine = capture_state(*net_.model, *net_.optimizer);
  // A registered optimiser's archive holds this stage's states only: its
  // states travel entry by entry instead, and the leader merges them.
  const auto archive = std::find_if(mine.begin(), mine.end(),
                                    [](const auto& e) { return e.first == "optim.archive"; });
  const bool serialized = archive != mine.end();
  if (serialized) {
    mine.erase(archive);
    for (auto& entry : capture_serialized_optimizer_state(*net_.model, *net_.optimizer))
      mine.push_back(std::move(entry));
  }
  const auto owners = owning_stages(mine, net_.model, partition_);
  if (seat_.stage != 0) {
    NamedTensors share;
    for (size_t i = 0; i < mine.size(); ++i) {
      if (owners[i] == seat_.stage) share.push_back(mine[i]);
    }
    send_tensors(stage_->comm(), share, 0, tags::kPipelineState);
    return;
  }
  std::map<std::string, at::Tensor> merged;
  for (size_t i = 0; i < mine.size(); ++i) {
    if (owners[i] == 0) merged[mine[i].first] = mine[i].second;
  }
  for (int s = 1; s < seat_.stages; ++s) {
    for (auto& [name, tensor] : recv_tensors(stage_->comm(), s, tags::kPipelineState))
      merged[name] = tensor;
  }
  NamedTensors optimizer_entries, rest;
  for (auto& entry : merged)
    (serialized && entry.first.rfind("optim.", 0) == 0 ? optimizer_entries : rest)
        .push_back(std::move(entry));
  restore_state(*net_.model, *net_.optimizer, rest, "pipeline: gathering the stages");
  if (serialized)
    restore_serialized_optimizer_state(*net_.model, *net_.optimizer, optimizer_entries);
}

void PipelineEngine::trace_step(const StepResult& result, int64_t step) const {
  const std::string args = fmt::format("{{\"step\":{}}}", step + 1);
  for (const auto& t : result.timings) {
    const auto kind = t.instruction.kind;
    const bool compute = kind == InstructionKind::Forward || kind == InstructionKind::Backward ||
                         kind == InstructionKind::OptimizerStep;
    const std::string name = kind == InstructionKind::OptimizerStep
                                 ? "optimizer"
                                 : fmt::format("{} {}", to_string(kind), t.instruction.micro_batch);
    trace_->span(name, compute ? TraceLane::Compute : TraceLane::PointToPoint,
                 result.started + std::chrono::duration_cast<TraceClock::duration>(
                                      std::chrono::duration<double>(t.start)),
                 result.started + std::chrono::duration_cast<TraceClock::duration>(
                                      std::chrono::duration<double>(t.end)),
                 args);
  }
}

bool PipelineEngine::agree(bool leader_decision) {
  return broadcast_decision(*seat_.network, leader_decision);
}

void PipelineEngine::report_timeline(const StepResult& result, int64_t step) {
  if (seat_.replica != 0) return;
  // Rows: stage, kind (0 forward, 1 backward), micro-batch, start, end in seconds
  // of steady_clock, which is one clock for every process on a host. The first
  // row carries the stage's busy and wall seconds.
  std::vector<double> rows = {double(seat_.stage), -1, -1, result.busy_seconds,
                              result.wall_seconds};
  const double t0 = seconds_of(result.started);
  for (const auto& t : result.timings) {
    const auto kind = t.instruction.kind;
    if (kind != InstructionKind::Forward && kind != InstructionKind::Backward) continue;
    rows.insert(rows.end(), {double(seat_.stage), kind == InstructionKind::Forward ? 0.0 : 1.0,
                             double(t.instruction.micro_batch), t0 + t.start, t0 + t.end});
  }
  at::Tensor mine = at::tensor(rows, at::kDouble).reshape({-1, 5});
  if (seat_.stage != 0) {
    at::Tensor count = at::scalar_tensor(mine.size(0), at::kLong).reshape({1});
    stage_->comm().send(count, 0, tags::kPipelineTimeline);
    stage_->comm().send(mine, 0, tags::kPipelineTimeline);
    return;
  }
  std::vector<at::Tensor> all = {mine};
  for (int s = 1; s < seat_.stages; ++s) {
    at::Tensor count = at::zeros({1}, at::kLong);
    stage_->comm().recv(count, s, tags::kPipelineTimeline);
    at::Tensor theirs = at::empty({count.item<int64_t>(), 5}, at::kDouble);
    stage_->comm().recv(theirs, s, tags::kPipelineTimeline);
    all.push_back(theirs);
  }

  std::vector<TimelineCell> cells;
  nlohmann::json stages = nlohmann::json::array();
  double busy = 0, makespan = 0;
  for (const auto& t : all) {
    const auto a = t.accessor<double, 2>();
    const double stage_busy = a[0][3], stage_wall = a[0][4];
    busy += stage_busy;
    makespan = std::max(makespan, stage_wall);
    stages.push_back({{"stage", int(a[0][0])},
                      {"busy_seconds", stage_busy},
                      {"idle_seconds", stage_wall - stage_busy}});
    for (int64_t i = 1; i < t.size(0); ++i) {
      cells.push_back({int(a[i][0]),
                       a[i][1] == 0 ? InstructionKind::Forward : InstructionKind::Backward,
                       int(a[i][2]), a[i][3], a[i][4]});
    }
  }
  const int P = seat_.stages, M = options_.micro_batches;
  const double measured = makespan > 0 ? 1 - busy / (P * makespan) : 0;
  const double theory = double(P - 1) / double(M + P - 1);
  const std::string title =
      fmt::format("step {}: {} stages, {} micro-batches, {}; bubble {:.1f}% (theory {:.1f}%)",
                  step + 1, P, M, to_string(options_.schedule), 100 * measured, 100 * theory);
  write_file_atomically(run_dir_ + "/timeline.svg", render_timeline_svg(cells, P, title));
  metrics_.write(nlohmann::json{
      {"kind", "pipeline"},
      {"step", step + 1},
      {"schedule", to_string(options_.schedule)},
      {"micro_batches", M},
      {"stages", stages},
      {"partition", partition_.bounds},
      {"bubble_fraction", measured},
      {"bubble_fraction_theory",
       theory}}.dump());
}

}  // namespace cohort
