#include "cohort/trainer.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <string.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "cohort/checkpoint.h"
#include "cohort/data.h"
#include "cohort/error.h"
#include "cohort/evaluate.h"
#include "cohort/messages.h"
#include "cohort/metrics.h"
#include "cohort/optim.h"
#include "cohort/pbt.h"
#include "cohort/progress.h"
#include "cohort/trace.h"
#include "train/async_engine.h"
#include "train/fault_injection.h"
#include "train/fused_engine.h"
#include "train/interrupt.h"
#include "train/network.h"
#include "train/pipeline_engine.h"
#include "train/preflight.h"
#include "train/process_context.h"
#include "train/replica_engine.h"
#include "train/run_dir.h"
#include "train/server_role.h"
#include "train/threads.h"
#include "util/json_error.h"

namespace cohort {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// Every rank's spans go to the leader, which writes one trace for the run.
// Ranks in `lost` (asynchronous workers that died) are not waited for.
void write_trace(const ProcessContext& ctx, const TraceRecorder& trace, const std::string& run_dir,
                 const std::vector<int>& lost = {}) {
  constexpr int kTraceTag = 7;
  if (!ctx.leader()) {
    send_bytes(*ctx.comm, trace.events_json(), 0, kTraceTag);
    return;
  }
  std::vector<std::string> ranks = {trace.events_json()};
  for (int r = 1; r < ctx.world.world_size; ++r)
    if (!std::count(lost.begin(), lost.end(), r))
      ranks.push_back(recv_bytes(*ctx.comm, r, kTraceTag));
  write_file_atomically(run_dir + "/trace.json", merge_traces(ranks));
}

struct Position {
  int64_t step = 0, epoch = 0, batch = 0;
};

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

// A loss that is no longer finite poisons every later step and checkpoint.
void check_finite(const std::vector<double>& losses, const std::vector<Network>& nets,
                  int64_t step, const std::string& run_dir) {
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

// Everything a run's inputs must satisfy, checked before anything is written.
void check_inputs(const Config& config, std::vector<Network>& nets, const Dataset& train_set,
                  const Dataset& test_set) {
  check_datasets(config.data, train_set, test_set);
  for (size_t i = 0; i < nets.size(); ++i) check_network_accepts(nets[i], train_set, i);
}

// The leader claims the run folder once every input has been checked: a new run
// takes only a folder that holds no other run (unless told to overwrite it), and
// what dead writers left half-written goes.
void claim_run_dir(const RunOptions& options) {
  if (!options.resume) {
    if (options.overwrite) clear_run(options.run_dir);
    else refuse_existing_run(options.run_dir);
  }
  prepare_run_dir(options.run_dir);
  remove_stale_temporaries(options.run_dir);
}

// Restores the networks and the engine's saved state from the newest checkpoint
// of the run folder, checking that it fits the config.
Position restore_run(const std::string& run_dir, std::vector<Network>& nets,
                     std::string& engine_state) {
  const std::string latest = latest_checkpoint(run_dir);
  if (latest.empty()) {
    throw InputError(fmt::format("{} has no complete checkpoint to resume from", run_dir));
  }
  const TrainingState state = load_checkpoint(latest);
  if (state.networks.size() != nets.size()) {
    throw InputError(fmt::format("{}: holds {} networks, the config has {}", latest,
                                 state.networks.size(), nets.size()));
  }
  try {
    const auto extra = nlohmann::json::parse(state.extra_json);
    if (extra.contains("engine")) engine_state = extra["engine"].dump();
    for (size_t i = 0; i < nets.size(); ++i) {
      load_network_state(nets[i], state.networks[i], latest);
      if (!extra.contains("hyperparameters")) continue;
      const auto& h = extra["hyperparameters"].at(i);
      nets[i].config.lr = h.at("lr");
      nets[i].config.momentum = h.at("momentum");
      nets[i].config.weight_decay = h.at("weight_decay");
      apply_hyperparameters(*nets[i].optimizer, {{"lr", nets[i].config.lr},
                                                 {"momentum", nets[i].config.momentum},
                                                 {"weight_decay", nets[i].config.weight_decay}});
    }
  } catch (const nlohmann::json::exception& e) {
    throw InputError(fmt::format("{}: corrupt manifest.json: {}", latest, describe_json_error(e)));
  }
  return {state.step, state.epoch, state.batch_in_epoch};
}

}  // namespace

std::string RunSummary::to_json() const {
  nlohmann::json nets = nlohmann::json::array();
  for (const auto& n : networks) {
    nets.push_back({{"name", n.name},
                    {"model", n.model},
                    {"test_accuracy", n.test_accuracy},
                    {"test_loss", n.test_loss}});
  }
  nlohmann::json out = {{"networks", nets},
                        {"steps", steps},
                        {"samples_per_sec", samples_per_sec},
                        {"wall_seconds", wall_seconds},
                        {"run_dir", run_dir}};
  if (async) {
    out["async"] = {{"pushes", async->pushes},
                    {"max_lead", async->max_lead},
                    {"staleness_bound", async->staleness_bound},
                    {"lost_workers", async->lost_workers}};
  }
  if (ensemble) {
    out["ensemble"] = {{"test_accuracy", ensemble->test_accuracy},
                       {"test_loss", ensemble->test_loss}};
  }
  return out.dump();
}

std::string RunSummary::describe() const {
  std::string out = fmt::format("result after {} steps in {:.0f} s ({:.0f} samples/s):\n", steps,
                                wall_seconds, samples_per_sec);
  double best = 0;
  std::string best_name;
  for (const auto& n : networks) {
    out += fmt::format("  {:<12} {:<8} test accuracy {:6.2f}%  loss {:.4f}\n", n.name, n.model,
                       100 * n.test_accuracy, n.test_loss);
    if (n.test_accuracy >= best) best = n.test_accuracy, best_name = n.name;
  }
  if (ensemble) {
    out += fmt::format(
        "  {:<21} test accuracy {:6.2f}%  loss {:.4f}  ({:+.2f} points against the best network, "
        "{})\n",
        "ensemble", 100 * ensemble->test_accuracy, ensemble->test_loss,
        100 * (ensemble->test_accuracy - best), best_name);
  }
  if (async && !async->lost_workers.empty())
    out += fmt::format("  lost workers: {}\n", fmt::join(async->lost_workers, ", "));
  return out + fmt::format("  run folder: {}\n", run_dir);
}

RunSummary train(const Config& given, const RunOptions& options) {
  const auto wall_start = Clock::now();
  check_threads(given.train.threads);
  const ProcessContext ctx = join_job(given);
  const bool leader = ctx.leader();
  configure_threads(given.train.threads, ctx.world.local_world_size);
  // Fail in the first second on a folder the run may not take.
  if (leader) {
    check_run_dir_writable(options.run_dir);
    if (!options.resume && !options.overwrite) refuse_existing_run(options.run_dir);
  }

  const Splits splits = load_splits(given.data);
  const Dataset& train_set = *splits.train;
  const Dataset& test_set = *splits.test;
  // The zoo's models take their input shape and classes from the data.
  const Config config = fit_to_data(given, train_set.spec());
  check_memory(config);

  std::vector<Network> nets;
  for (size_t i = 0; i < config.networks.size(); ++i) {
    nets.push_back(make_network(config, i, ctx.placement.device));
    // A resume takes every weight from the checkpoint, so the init file may be gone.
    if (!options.resume) load_initial_weights(nets.back(), i);
  }
  check_inputs(config, nets, train_set, test_set);
  const std::string config_text = to_toml(config);

  const auto& tc = config.train;
  // Every replica draws the same permutation and takes its own shard (the stages
  // of one pipeline share theirs); dropping the uneven tail gives every replica
  // the same number of steps.
  const ShardedSampler sampler(train_set.size(), ctx.data_rank, ctx.data_size, tc.seed,
                               config.data.shuffle, ShardedSampler::Tail::Drop);
  const int64_t steps_per_epoch = sampler.batches_per_epoch(tc.batch_size, true);
  if (steps_per_epoch < 1) {
    throw InputError(fmt::format("train.batch_size = {} is larger than the {} training samples",
                                 tc.batch_size, train_set.size()));
  }
  int64_t total_steps = steps_per_epoch * tc.epochs;
  if (tc.max_steps > 0) total_steps = std::min(total_steps, tc.max_steps);

  Position pos;
  std::string resumed_from;  // the checkpoint a resume started from, for the progress line
  // What the step engine keeps between steps (PBT's interval so far), restored
  // once the engine exists.
  std::string engine_state;
  std::unique_ptr<StepEngine> engine;
  if (options.resume) {
    resumed_from = latest_checkpoint(options.run_dir);
    pos = restore_run(options.run_dir, nets, engine_state);
  }

  // Inputs are all checked before the run folder is written: a bad run leaves
  // nothing, and a failed resume leaves the run as it was. Ranks hold identical
  // weights, so only the leader writes.
  if (leader) {
    claim_run_dir(options);
    write_file_atomically(options.run_dir + "/config.toml", config_text);
  }

  auto save = [&](const Position& p) {
    TrainingState state;
    state.step = p.step;
    state.epoch = p.epoch;
    state.batch_in_epoch = p.batch;
    state.config_toml = config_text;
    // PBT changes hyperparameters during the run; a resume must start from them.
    nlohmann::json hps = nlohmann::json::array();
    for (const auto& n : nets) {
      state.networks.push_back(network_state(n));
      hps.push_back({{"lr", n.config.lr},
                     {"momentum", n.config.momentum},
                     {"weight_decay", n.config.weight_decay}});
    }
    state.extra_json = nlohmann::json{{"hyperparameters", hps},
                                      {"engine", nlohmann::json::parse(engine->checkpoint_state())}}
                           .dump();
    save_checkpoint(options.run_dir, state, tc.keep_checkpoints);
  };

  MetricsLog metrics = leader ? MetricsLog(options.run_dir + "/metrics.jsonl") : MetricsLog();
  if (leader && tc.tensorboard) metrics.also_to_tensorboard(options.run_dir + "/tensorboard");
  Progress progress(total_steps, tc.epochs, options.progress && leader);
  RunSummary summary;
  summary.run_dir = options.run_dir;
  summary.leader = leader;

  // Throughput counts the steps themselves (batch gather, forward, backward,
  // optimiser), after a short warm-up, as the Python peer does: evaluation and
  // checkpoints are reported separately in metrics.jsonl.
  const int64_t warmup_steps = std::min<int64_t>(20, (total_steps - pos.step) / 4);

  TraceRecorder trace = tc.timeline ? TraceRecorder(ctx.world.rank) : TraceRecorder();
  if (ctx.is_server()) {
    // Servers start from the (restored) network and serve until the workers are done.
    serve_parameters(config, ctx, nets[0], trace);
    if (trace.enabled()) write_trace(ctx, trace, options.run_dir);
    summary.leader = false;
    summary.wall_seconds = seconds_since(wall_start);
    return summary;
  }

  if (!resumed_from.empty())
    progress.message(fmt::format("resumed from {} (step {})", resumed_from, pos.step));
  // Built after a resume: DDP broadcasts rank 0's (restored) weights, and
  // pipeline stages are cut from the restored network.
  if (leader && options.progress && (ctx.stages > 1 || ctx.network_groups > 1)) {
    const MeshLayout layout = training_mesh(config.parallel);
    progress.message(
        fmt::format("placement {}: {}", layout.describe(), describe_placement(layout)));
  }
  if (config.parallel.mode == "async") {
    engine = std::make_unique<AsyncEngine>(config, ctx, nets[0]);
  } else if (ctx.stages > 1) {
    const int64_t rows =
        (tc.batch_size + config.parallel.micro_batches - 1) / config.parallel.micro_batches;
    // The first timed step is drawn: warmed up, and early enough to show in short runs.
    const int64_t timeline_step = std::min(pos.step + warmup_steps, total_steps - 1);
    engine =
        std::make_unique<PipelineEngine>(config, ctx, nets[0], train_set.slice(0, rows).inputs,
                                         options.run_dir, metrics, timeline_step);
  } else if (config.cooperate.fused) {
    engine = std::make_unique<FusedEngine>(config, ctx, nets);
  } else {
    engine = std::make_unique<ReplicaEngine>(config, ctx, nets, metrics);
  }

  engine->set_trace(&trace);
  if (!engine_state.empty()) engine->restore_checkpoint_state(engine_state);

  InterruptWatch interrupts(tc.checkpoint_on_interrupt);
  auto last_checkpoint = Clock::now();
  int64_t steps_this_run = 0, samples_timed = 0;
  double step_seconds = 0;
  auto interval_start = Clock::now();
  int64_t interval_samples = 0;
  std::vector<double> interval_loss(nets.size(), 0.0), interval_accuracy(nets.size(), 0.0);
  int64_t interval_steps = 0;
  double last_rate = 0;

  auto record_evaluation = [&](const std::string& network, const Evaluation& e) {
    metrics.write(nlohmann::json{{"kind", "eval"},
                                 {"network", network},
                                 {"step", pos.step},
                                 {"epoch", pos.epoch},
                                 {"test_accuracy", e.accuracy},
                                 {"test_loss", e.loss},
                                 {"wall_seconds", seconds_since(wall_start)}}
                      .dump());
  };
  // Every network on the test split, and their ensemble when there are several.
  auto evaluate_all = [&]() {
    summary.networks.clear();
    std::vector<at::Tensor> probs(nets.size());
    for (size_t k = 0; k < nets.size(); ++k) {
      const Evaluation e = evaluate(nets[k].model, test_set, nets.size() > 1 ? &probs[k] : nullptr);
      summary.networks.push_back(
          {nets[k].config.name, nets[k].config.model.name, e.accuracy, e.loss});
      record_evaluation(nets[k].config.name, e);
      progress.message(fmt::format("epoch {} {}: test accuracy {:.2f}%, loss {:.4f}", pos.epoch + 1,
                                   nets[k].config.name, 100 * e.accuracy, e.loss));
    }
    if (nets.size() > 1) {
      const Evaluation e = evaluate_ensemble(probs, test_set.slice(0, test_set.size()).targets);
      summary.ensemble = NetworkResult{"ensemble", "ensemble", e.accuracy, e.loss};
      record_evaluation("ensemble", e);
      progress.message(
          fmt::format("epoch {} ensemble: test accuracy {:.2f}%", pos.epoch + 1, 100 * e.accuracy));
    }
  };

  for (; pos.epoch < tc.epochs && pos.step < total_steps; ++pos.epoch, pos.batch = 0) {
    const at::Tensor order = sampler.indices(pos.epoch);
    for (; pos.batch < steps_per_epoch && pos.step < total_steps;) {
      fault_point("step", pos.step);
      const auto step_start = Clock::now();
      const Batch batch =
          place_batch(make_batch(train_set, order, pos.batch, tc.batch_size), ctx.placement);
      const StepOutcome outcome = [&] {
        AutocastScope autocast(ctx.placement);
        return engine->step(batch, pos.step, total_steps);
      }();
      const std::vector<double>& step_losses = outcome.loss;
      check_finite(step_losses, nets, pos.step + 1, options.run_dir);
      for (size_t k = 0; k < nets.size(); ++k) {
        interval_loss[k] += step_losses[k];
        interval_accuracy[k] += outcome.accuracy[k];
      }
      ++pos.step;
      ++pos.batch;
      ++interval_steps;
      if (++steps_this_run > warmup_steps) {
        samples_timed += batch.targets.size(0);
        step_seconds += seconds_since(step_start);
      }
      interval_samples += batch.targets.size(0);

      if (pos.step % tc.log_every == 0 || pos.step == total_steps) {
        const double interval_seconds = std::max(1e-9, seconds_since(interval_start));
        last_rate = double(interval_samples) / interval_seconds;
        const StepCosts costs = engine->take_costs();
        for (size_t k = 0; k < nets.size(); ++k) {
          metrics.write(
              nlohmann::json{{"kind", "train"},
                             {"network", nets[k].config.name},
                             {"step", pos.step},
                             {"epoch", pos.epoch},
                             {"loss", interval_loss[k] / double(interval_steps)},
                             {"accuracy", interval_accuracy[k] / double(interval_steps)},
                             {"lr", learning_rate_at(nets[k].config, pos.step - 1, total_steps)},
                             {"samples_per_sec", last_rate},
                             {"interval_seconds", interval_seconds},
                             {"comm_seconds", costs.communication},
                             {"comm_exposed_seconds", costs.exposed_communication},
                             {"pipeline_idle_seconds", costs.pipeline_idle},
                             {"staleness", costs.staleness},
                             {"wall_seconds", seconds_since(wall_start)}}
                  .dump());
        }
        std::fill(interval_loss.begin(), interval_loss.end(), 0.0);
        std::fill(interval_accuracy.begin(), interval_accuracy.end(), 0.0);
        interval_steps = 0;
        interval_samples = 0;
        interval_start = Clock::now();
      }
      progress.update(pos.step, pos.epoch, step_losses[0], last_rate, tc.log_every);

      const bool by_steps =
          tc.checkpoint_every_steps > 0 && pos.step % tc.checkpoint_every_steps == 0;
      bool due = by_steps || (tc.checkpoint_every_seconds > 0 &&
                              seconds_since(last_checkpoint) >= tc.checkpoint_every_seconds);
      // Only the leader's clock counts; ranks that must help it save learn its decision.
      if (tc.checkpoint_every_seconds > 0) due = engine->agree(leader && due);
      if (due && pos.batch < steps_per_epoch) {
        const auto start = Clock::now();
        engine->gather_networks();
        if (leader) save(pos);
        last_checkpoint = Clock::now();
        trace.span("checkpoint", TraceLane::Host, start, last_checkpoint);
      }
      if (const int sig = agreed_interrupt(ctx, config, interrupts.signal(), pos.step)) {
        engine->gather_networks();
        if (leader) save(pos);
        throw Interrupted(fmt::format("stopped by SIG{} after step {}{}", sigabbrev_np(sig), pos.step,
                                      leader ? fmt::format(": saved {}, continue with --resume {}",
                                                           latest_checkpoint(options.run_dir),
                                                           options.run_dir)
                                             : ""),
                          sig);
      }
    }
    const auto epoch_end = Clock::now();
    engine->gather_networks();
    if (leader) evaluate_all();
    const auto evaluated = Clock::now();
    trace.span("evaluate", TraceLane::Host, epoch_end, evaluated);
    // The epoch's end is the resume point: the next run starts the next epoch.
    if (leader)
      save({pos.step, pos.batch < steps_per_epoch ? pos.epoch : pos.epoch + 1,
            pos.batch < steps_per_epoch ? pos.batch : 0});
    last_checkpoint = Clock::now();
    trace.span("checkpoint", TraceLane::Host, evaluated, last_checkpoint);
  }
  progress.finish();
  engine->finish(summary);
  if (leader && summary.networks.empty()) evaluate_all();  // resumed a finished run
  summary.steps = pos.step;
  // Every replica trains on its own shard at the same pace: the job's rate is the
  // leader's times the number of replicas.
  summary.samples_per_sec =
      step_seconds > 0 ? double(samples_timed) * ctx.data_size / step_seconds : 0;
  if (trace.enabled())
    write_trace(ctx, trace, options.run_dir,
                summary.async ? summary.async->lost_workers : std::vector<int>{});
  summary.wall_seconds = seconds_since(wall_start);
  if (leader) write_file_atomically(options.run_dir + "/summary.json", summary.to_json() + "\n");
  return summary;
}

}  // namespace cohort
