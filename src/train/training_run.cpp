#include "train/training_run.h"

#include <fmt/format.h>
#include <string.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "cohort/error.h"
#include "cohort/evaluate.h"
#include "cohort/heap.h"
#include "cohort/messages.h"
#include "comm/message_tags.h"
#include "launch/elastic_plan.h"
#include "observe/allocation_meter.h"
#include "train/checks/preflight.h"
#include "train/engines/async_engine.h"
#include "train/engines/fused_engine.h"
#include "train/engines/pipeline_engine.h"
#include "train/engines/replica_engine.h"
#include "train/engines/server_role.h"
#include "train/process/fault_injection.h"
#include "train/process/threads.h"
#include "train/record/rank_times.h"
#include "train/record/run_dir.h"
#include "train/record/test_scores.h"

namespace cohort {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// Steps between the ranks' agreement on whether any was told to stop: every
// rank must leave the loop after the same step, and one tiny allreduce per
// this many steps costs nothing next to the steps.
constexpr int64_t kInterruptPoll = 8;

// The signal every rank acts on: its own in one process; the largest any rank
// received in a job, agreed every kInterruptPoll steps. Asynchronous workers
// run at their own pace and each stops on its own.
int agreed_interrupt(const ProcessContext& ctx, const Config& config, int own, int64_t step) {
  if (!ctx.distributed() || config.parallel.mode == "async") return own;
  if (step % kInterruptPoll != 0) return 0;
  std::vector<at::Tensor> flag = {torch::tensor({own}, torch::kInt32)};
  ctx.comm->allreduce_async(flag, ReduceOp::Max).wait();
  return flag[0].item<int>();
}

// The checkpoint a resume starts from: the newest complete one, and in a job the
// same one on every rank. A checkpoint may be deleted while the ranks look (by
// a person, a cleanup job, another run's pruning), and ranks that resumed from
// different steps would train apart without a word; they take the oldest of
// their choices, which every rank saw whole.
std::string agreed_checkpoint(const ProcessContext& ctx, const Config& config,
                              const std::string& run_dir) {
  std::string chosen = latest_checkpoint(run_dir);
  if (ctx.distributed() && config.parallel.mode != "async") {
    const int64_t own = chosen.empty() ? -1 : checkpoint_folder_step(chosen);
    std::vector<at::Tensor> step = {torch::tensor({own}, torch::kInt64)};
    ctx.comm->allreduce_async(step, ReduceOp::Min).wait();
    const int64_t agreed = step[0].item<int64_t>();
    chosen = agreed < 0 ? "" : checkpoint_folder(run_dir, agreed);
  }
  if (chosen.empty())
    throw InputError(fmt::format("{} has no complete checkpoint to resume from", run_dir));
  return chosen;
}

// A loss that is no longer finite poisons every later step and checkpoint.
void check_finite(const std::vector<double>& losses, const std::vector<Network>& nets, int64_t step,
                  const std::string& run_dir) {
  for (size_t k = 0; k < losses.size(); ++k) {
    if (std::isfinite(losses[k])) continue;
    const std::string kept = latest_checkpoint(run_dir);
    throw DivergedError(fmt::format(
        "network '{}' diverged at step {}: its loss is {}; {} (lower network.{}.lr or set "
        "network.{}.grad_clip)",
        k < nets.size() ? nets[k].config.name : "?", step,
        std::isnan(losses[k]) ? "NaN" : "infinite",
        kept.empty() ? "no checkpoint was written before" : "the last good checkpoint is " + kept,
        k, k));
  }
}

// Every rank's spans go to the leader, which writes one trace for the run.
// Ranks in `lost` (asynchronous workers that died) are not waited for.
void write_trace(const ProcessContext& ctx, const TraceRecorder& trace, const std::string& run_dir,
                 const std::vector<int>& lost = {}) {
  if (!ctx.leader()) {
    send_bytes(*ctx.comm, trace.events_json(), 0, tags::kTrace);
    return;
  }
  std::vector<std::string> ranks = {trace.events_json()};
  for (int r = 1; r < ctx.world.world_size; ++r)
    if (!std::count(lost.begin(), lost.end(), r))
      ranks.push_back(recv_bytes(*ctx.comm, r, tags::kTrace));
  write_file_atomically(run_dir + "/trace.json", merge_traces(ranks));
}

// The leader claims the run folder once every input has been checked: a new run
// takes only a folder that holds no other run (unless told to overwrite it), and
// what dead writers left half-written goes.
void claim_run_dir(const RunOptions& options) {
  if (!options.resume) {
    if (options.overwrite)
      clear_run(options.run_dir);
    else
      refuse_existing_run(options.run_dir);
  }
  prepare_run_dir(options.run_dir);
  remove_stale_temporaries(options.run_dir);
}

// Joins the job, after the checks that need no other rank: a bad folder fails
// in the first second.
ProcessContext join(const Config& given, const RunOptions& options) {
  check_threads(given.train.threads);
  ProcessContext ctx = join_job(given);
  configure_threads(given.train.threads, ctx.world.local_world_size);
  keep_freed_memory();
  if (ctx.leader()) {
    check_run_dir_writable(options.run_dir);
    if (!options.resume && !options.overwrite) refuse_existing_run(options.run_dir);
  }
  return ctx;
}

// Refused before it is built when the networks would not fit in memory.
std::vector<Network> build_networks(const Config& config, const ProcessContext& ctx, bool resume) {
  check_memory(config);
  std::vector<Network> nets;
  for (size_t i = 0; i < config.networks.size(); ++i) {
    nets.push_back(make_network(config, i, ctx.placement.device));
    // A resume takes every weight from the checkpoint, so the init file may be gone.
    if (!resume) load_initial_weights(nets.back(), i);
  }
  return nets;
}

// The shards of the replicas a rank plays: data_rank x accumulate and the
// ones after it, of data_size x accumulate (the config's parallel.data).
std::vector<ShardedSampler> replica_samplers(int64_t samples, const ProcessContext& ctx,
                                             const Config& config) {
  std::vector<ShardedSampler> samplers;
  for (int j = 0; j < ctx.accumulate; ++j)
    samplers.emplace_back(samples, ctx.data_rank * ctx.accumulate + j,
                          ctx.data_size * ctx.accumulate, config.train.seed, config.data.shuffle,
                          ShardedSampler::Tail::Drop);
  return samplers;
}

}  // namespace

// Every replica draws the same permutation and takes its own shard (the stages
// of one pipeline share theirs); dropping the uneven tail gives every replica
// the same number of steps.
TrainingRun::TrainingRun(const Config& given, const RunOptions& options)
    : wall_start_(Clock::now()),
      options_(options),
      ctx_(join(given, options)),
      splits_(load_splits(given.data)),
      // The zoo's models take their input shape and classes from the data.
      config_(fit_to_data(given, splits_.train->spec())),
      config_text_(to_toml(config_)),
      nets_(build_networks(config_, ctx_, options.resume)),
      samplers_(replica_samplers(splits_.train->size(), ctx_, config_)),
      progress_(0, config_.train.epochs, false),
      trace_(config_.train.timeline ? TraceRecorder(ctx_.world.rank) : TraceRecorder()),
      interval_(nets_.size(), splits_.train->spec().task) {
  const auto& tc = config_.train;
  check_datasets(config_.data, *splits_.train, *splits_.test);
  for (size_t i = 0; i < nets_.size(); ++i) check_network_accepts(nets_[i], *splits_.train, i);
  rows_per_step_ = ctx_.members ? tc.batch_size * config_.parallel.data : tc.batch_size;
  steps_per_epoch_ = samplers_.front().batches_per_epoch(rows_per_step_, true);
  if (steps_per_epoch_ < 1) {
    throw InputError(
        fmt::format("a step's {} samples are more than the {} training samples: "
                    "lower train.batch_size",
                    rows_per_step_, splits_.train->size()));
  }
  total_steps_ = steps_per_epoch_ * tc.epochs;
  if (tc.max_steps > 0) total_steps_ = std::min(total_steps_, tc.max_steps);
  if (options_.resume) {
    resumed_from_ = agreed_checkpoint(ctx_, config_, options_.run_dir);
    pos_ = restore_run(resumed_from_, nets_, engine_state_);
  }
  // Inputs are all checked before the run folder is written: a bad run leaves
  // nothing, and a failed resume leaves the run as it was. Ranks hold identical
  // weights, so only the leader writes.
  if (ctx_.leader()) {
    claim_run_dir(options_);
    write_file_atomically(options_.run_dir + "/config.toml", config_text_);
    metrics_ = std::make_unique<MetricsLog>(options_.run_dir + "/metrics.jsonl");
    if (tc.tensorboard) metrics_->also_to_tensorboard(options_.run_dir + "/tensorboard");
  } else {
    metrics_ = std::make_unique<MetricsLog>();  // records nothing
  }
  progress_ = Progress(total_steps_, tc.epochs, options_.progress && ctx_.leader());
  warmup_steps_ = std::min<int64_t>(20, (total_steps_ - pos_.step) / 4);
  summary_.run_dir = options_.run_dir;
  summary_.leader = ctx_.leader();
  summary_.task = splits_.train->spec().task;
  compares_ranks_ = ctx_.distributed() && config_.parallel.mode != "async";
  const char* reform = std::getenv(kReformAtCheckpointVariable);
  reform_at_checkpoint_ = reform && std::string(reform) == "1";
}

RunSummary TrainingRun::serve_parameters() {
  // Servers start from the (restored) network and serve until the workers are done.
  cohort::serve_parameters(config_, ctx_, nets_[0], trace_);
  if (trace_.enabled()) write_trace(ctx_, trace_, options_.run_dir);
  summary_.leader = false;
  summary_.wall_seconds = seconds_since(wall_start_);
  return summary_;
}

std::unique_ptr<StepEngine> TrainingRun::make_engine() {
  // Only synchronous data parallelism with one network group can play several
  // replicas (a pipeline's as more micro-batches).
  const bool plain = config_.parallel.mode == "sync" && ctx_.network_groups == 1;
  if (ctx_.accumulate > 1 && !plain)
    throw InputError(
        fmt::format("the job was re-formed on {} ranks, fewer than its config's, but only a "
                    "data-parallel job (parallel.network = 1) can "
                    "play several replicas per rank (cohort train --nproc MIN:MAX checks this "
                    "before it starts; under torchrun start the config's ranks)",
                    ctx_.world.world_size));
  if (config_.parallel.mode == "async")
    return std::make_unique<AsyncEngine>(config_, ctx_, nets_[0]);
  if (ctx_.stages > 1) {
    const int64_t rows = (config_.train.batch_size + config_.parallel.micro_batches - 1) /
                         config_.parallel.micro_batches;
    // The first timed step is drawn: warmed up, and early enough to show in short runs.
    const int64_t timeline_step = std::min(pos_.step + warmup_steps_, total_steps_ - 1);
    return std::make_unique<PipelineEngine>(config_, ctx_.pipeline_seat(), nets_[0],
                                            splits_.train->slice(0, rows).inputs, options_.run_dir,
                                            *metrics_, timeline_step);
  }
  if (config_.cooperate.fused) return std::make_unique<FusedEngine>(config_, ctx_, nets_);
  // Pipelined members cut themselves where a micro-batch of the first rows is timed.
  const at::Tensor sample =
      ctx_.members ? splits_.train->slice(0, rows_per_step_).inputs : at::Tensor();
  return std::make_unique<ReplicaEngine>(config_, ctx_, nets_, *metrics_, rows_per_step_, sample);
}

void TrainingRun::start() {
  if (!resumed_from_.empty())
    progress_.message(fmt::format("resumed from {} (step {})", resumed_from_, pos_.step));
  // Every start is on record: a resume after a failure shows the steps redone
  // (the last step logged before it, less this one) and the world it re-formed.
  nlohmann::json start{{"kind", "start"},
                       {"step", pos_.step},
                       {"epoch", pos_.epoch},
                       {"resumed_from", resumed_from_},
                       {"world_size", ctx_.world.world_size},
                       {"replicas_per_rank", ctx_.accumulate},
                       {"wall_seconds", seconds_since(wall_start_)}};
  // Where the members went on this world (format_member_ranks: "0,1;2;0").
  if (ctx_.members) {
    std::vector<std::vector<int>> ranks;
    for (size_t k = 0; k < ctx_.members->members(); ++k) ranks.push_back(ctx_.members->ranks(k));
    start["member_ranks"] = format_member_ranks(ranks);
  }
  metrics_->write(start.dump());
  if (ctx_.accumulate > 1)
    progress_.message(fmt::format("{} ranks, each playing {} of the {} replicas",
                                  ctx_.world.world_size, ctx_.accumulate, config_.parallel.data));
  if (ctx_.leader() && options_.progress && ctx_.members) {
    std::vector<std::string> names;
    for (const Network& n : nets_) names.push_back(n.config.name);
    progress_.message(fmt::format("members' layouts: {}", ctx_.members->describe(names)));
  } else if (ctx_.leader() && options_.progress &&
             (ctx_.stages > 1 || ctx_.network_groups > 1 || ctx_.tensors > 1)) {
    const MeshLayout layout = training_mesh(config_.parallel);
    progress_.message(
        fmt::format("placement {}: {}", layout.describe(), describe_placement(layout)));
  }
  // Built after a resume: DDP broadcasts rank 0's (restored) weights, and
  // pipeline stages are cut from the restored network.
  engine_ = make_engine();
  engine_->set_trace(&trace_);
  if (!engine_state_.empty()) engine_->restore_checkpoint_state(engine_state_);
  interrupts_.emplace(config_.train.checkpoint_on_interrupt);
  last_checkpoint_ = Clock::now();
}

bool TrainingRun::epochs_left() const {
  return pos_.epoch < config_.train.epochs && pos_.step < total_steps_;
}

bool TrainingRun::batches_left() const {
  return pos_.batch < steps_per_epoch_ && pos_.step < total_steps_;
}

// One row per replica this rank plays.
at::Tensor TrainingRun::epoch_order() const {
  std::vector<at::Tensor> rows;
  for (const auto& sampler : samplers_) rows.push_back(sampler.indices(pos_.epoch));
  return at::stack(rows);
}

// The replicas' batches one after the other: the engine cuts them apart again.
Batch TrainingRun::next_batch(const at::Tensor& order) {
  fault_point("step", pos_.step);
  step_start_ = Clock::now();
  const int64_t size = rows_per_step_;
  const at::Tensor batch = order.slice(1, pos_.batch * size, (pos_.batch + 1) * size).reshape(-1);
  return place_batch(make_batch(*splits_.train, batch, 0, batch.size(0)), ctx_.placement);
}

StepOutcome TrainingRun::step(const Batch& batch) {
  std::optional<AllocationMeter> meter;
  if (meters_this_step()) meter.emplace();
  const StepOutcome outcome = [&] {
    AutocastScope autocast(ctx_.placement);
    return engine_->step(batch, pos_.step, total_steps_);
  }();
  if (meter) {
    const int64_t peak = meter->active() ? meter->peak() : -1;
    meter.reset();
    record_step_memory(peak);
  }
  check_finite(outcome.loss, nets_, pos_.step + 1, options_.run_dir);
  ++pos_.step;
  ++pos_.batch;
  if (++steps_this_run_ > warmup_steps_) {
    samples_timed_ += batch.targets.size(0);
    step_seconds_ += seconds_since(step_start_);
  }
  return outcome;
}

// Collective over the world: every rank's `mine`, on the CPU, in rank order.
std::vector<at::Tensor> TrainingRun::gather_from_ranks(at::Tensor mine) {
  if (ctx_.placement.device.is_cuda()) mine = mine.to(ctx_.placement.device);  // NCCL's tensors
  std::vector<at::Tensor> all = ctx_.comm->allgather(mine);
  for (at::Tensor& t : all) t = t.cpu();
  return all;
}

bool TrainingRun::meters_this_step() const {
  return steps_this_run_ == 1 || (steps_this_run_ == 0 && pos_.step + 1 == total_steps_);
}

// -1 where a profiler already listened on the rank's thread.
void TrainingRun::record_step_memory(int64_t peak_bytes) {
  std::vector<int64_t> peaks{peak_bytes};
  if (compares_ranks_) {
    peaks.clear();
    for (const at::Tensor& t : gather_from_ranks(at::tensor(std::vector<int64_t>{peak_bytes})))
      peaks.push_back(t.item<int64_t>());
  }
  if (!ctx_.leader()) return;
  summary_.step_peak_bytes = peaks;
  metrics_->write(
      nlohmann::json{{"kind", "step_memory"}, {"step", pos_.step + 1}, {"peak_bytes", peaks}}
          .dump());
}

void TrainingRun::log(const StepOutcome& outcome, const Batch& batch) {
  interval_.add(outcome, batch.targets.size(0));
  const auto& tc = config_.train;
  if (pos_.step % tc.log_every == 0 || pos_.step == total_steps_) {
    const StepCosts costs = engine_->take_costs();
    const int64_t interval_steps = interval_.steps();
    const double seconds = interval_.write(*metrics_, nets_, pos_.step, pos_.epoch, total_steps_,
                                           costs, seconds_since(wall_start_));
    if (compares_ranks_)
      record_rank_times(
          seconds - costs.exposed_communication - costs.pipeline_idle,
          double(costs.exchange_bytes) / double(std::max<int64_t>(1, interval_steps)));
  }
  progress_.update(pos_.step, pos_.epoch, outcome.loss[0], interval_.rate(), tc.log_every);
}

// Collective over the world: every rank logs at the same steps.
void TrainingRun::record_rank_times(double busy_seconds, double exchange_bytes_per_step) {
  std::vector<double> busy, exchanged;
  for (const at::Tensor& values : gather_from_ranks(
           at::tensor(std::vector<double>{busy_seconds, exchange_bytes_per_step}, at::kDouble))) {
    busy.push_back(values[0].item<double>());
    exchanged.push_back(values[1].item<double>());
  }
  if (!ctx_.leader()) return;
  const RankTimes times = compare_ranks(std::move(busy));
  nlohmann::json record{{"kind", "ranks"},
                        {"step", pos_.step},
                        {"epoch", pos_.epoch},
                        {"busy_seconds", times.busy_seconds},
                        {"slowest_rank", times.slowest},
                        {"slowest_over_others", times.over_others},
                        {"straggler", times.straggler},
                        {"wall_seconds", seconds_since(wall_start_)}};
  if (std::any_of(exchanged.begin(), exchanged.end(), [](double b) { return b > 0; }))
    record["exchange_bytes_per_step"] = exchanged;
  metrics_->write(record.dump());
  if (times.straggler) {
    progress_.message(
        fmt::format("rank {} is straggling: busy {:.1f}x the other ranks' median "
                    "in the steps up to {}",
                    times.slowest, times.over_others, pos_.step));
  }
}

void TrainingRun::save(const Position& at) {
  save_checkpoint(options_.run_dir, run_state(nets_, at, config_text_, engine_->checkpoint_state()),
                  config_.train.keep_checkpoints);
}

void TrainingRun::checkpoint_if_due() {
  const auto& tc = config_.train;
  const bool by_steps = tc.checkpoint_every_steps > 0 && pos_.step % tc.checkpoint_every_steps == 0;
  bool due = by_steps || (tc.checkpoint_every_seconds > 0 &&
                          seconds_since(last_checkpoint_) >= tc.checkpoint_every_seconds);
  // Only the leader's clock counts; ranks that must help it save learn its decision.
  if (tc.checkpoint_every_seconds > 0) due = engine_->agree(ctx_.leader() && due);
  // The epoch's last batch is saved by end_epoch().
  if (!due || pos_.batch >= steps_per_epoch_) return;
  const auto start = Clock::now();
  engine_->gather_networks();
  if (ctx_.leader()) save(pos_);
  last_checkpoint_ = Clock::now();
  trace_.span("checkpoint", TraceLane::Host, start, last_checkpoint_);
  stop_for_reform_if_asked();
}

void TrainingRun::stop_for_reform_if_asked() {
  if (!reform_at_checkpoint_ || !epochs_left()) return;
  throw Error(fmt::format("stopped at the checkpoint of step {} so that the launcher can re-form "
                          "the job on more ranks",
                          pos_.step),
              kReformExitCode);
}

void TrainingRun::stop_if_interrupted() {
  const int sig = agreed_interrupt(ctx_, config_, interrupts_->signal(), pos_.step);
  if (!sig) return;
  engine_->gather_networks();
  if (ctx_.leader()) save(pos_);
  throw Interrupted(
      fmt::format("stopped by SIG{} after step {}{}", sigabbrev_np(sig), pos_.step,
                  ctx_.leader() ? fmt::format(": saved {}, continue with --resume {}",
                                              latest_checkpoint(options_.run_dir), options_.run_dir)
                                : ""),
      sig);
}

void TrainingRun::record_evaluation(const std::string& network, const Evaluation& e) {
  nlohmann::json record{{"kind", "eval"},
                        {"network", network},
                        {"step", pos_.step},
                        {"epoch", pos_.epoch},
                        {"wall_seconds", seconds_since(wall_start_)}};
  record.update(test_scores(summary_.task, e.accuracy, e.loss));
  metrics_->write(record.dump());
  const std::string score =
      summary_.task == Task::Classification
          ? fmt::format("test accuracy {:.2f}%, loss {:.4f}", 100 * e.accuracy, e.loss)
          : fmt::format("test mean squared error {:.4g}", e.loss);
  progress_.message(fmt::format("epoch {} {}: {}", pos_.epoch + 1, network, score));
}

// Every network on the test split, and the ensemble of the cohort's (control
// networks stand apart) when there are several.
void TrainingRun::evaluate_networks() {
  std::vector<torch::nn::Sequential> models = models_of(nets_);
  const CohortEvaluation result = evaluate_cohort(models, cooperating(nets_), *splits_.test);
  summary_.networks.clear();
  for (size_t k = 0; k < nets_.size(); ++k) {
    const Evaluation& e = result.networks[k];
    summary_.networks.push_back({nets_[k].config.name, nets_[k].config.model.name, e.accuracy,
                                 e.loss, !nets_[k].config.cooperate});
    record_evaluation(nets_[k].config.name, e);
  }
  if (!result.ensemble) return;
  summary_.ensemble =
      NetworkResult{"ensemble", "ensemble", result.ensemble->accuracy, result.ensemble->loss};
  record_evaluation("ensemble", *result.ensemble);
}

void TrainingRun::end_epoch() {
  const auto epoch_end = Clock::now();
  engine_->gather_networks();
  if (ctx_.leader()) evaluate_networks();
  const auto evaluated = Clock::now();
  trace_.span("evaluate", TraceLane::Host, epoch_end, evaluated);
  // The epoch's end is the resume point: the next run starts the next epoch.
  const bool finished = pos_.batch >= steps_per_epoch_;
  if (ctx_.leader())
    save({pos_.step, finished ? pos_.epoch + 1 : pos_.epoch, finished ? 0 : pos_.batch});
  last_checkpoint_ = Clock::now();
  trace_.span("checkpoint", TraceLane::Host, evaluated, last_checkpoint_);
  ++pos_.epoch;
  pos_.batch = 0;
  stop_for_reform_if_asked();
}

RunSummary TrainingRun::finish() {
  progress_.finish();
  engine_->finish(summary_);
  if (ctx_.leader() && summary_.networks.empty()) evaluate_networks();  // resumed a finished run
  summary_.steps = pos_.step;
  // Every replica trains on its own shard at the same pace: the job's rate is the
  // leader's times the number of replicas.
  summary_.samples_per_sec =
      step_seconds_ > 0 ? double(samples_timed_) * ctx_.data_size / step_seconds_ : 0;
  if (trace_.enabled())
    write_trace(ctx_, trace_, options_.run_dir,
                summary_.async ? summary_.async->lost_workers : std::vector<int>{});
  summary_.wall_seconds = seconds_since(wall_start_);
  if (ctx_.leader())
    write_file_atomically(options_.run_dir + "/summary.json", summary_.to_json() + "\n");
  return summary_;
}

}  // namespace cohort
