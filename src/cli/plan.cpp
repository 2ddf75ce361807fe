// cohort plan CONFIG --nproc N [--cluster FILE]: profiles each member of the
// config on this machine and prints the layout and ranks the planner chooses
// for each (plan/planner.h), against the naive layout. The last stdout line is
// one JSON object.
#include <ATen/ops/arange.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <unistd.h>

#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cohort/config.h"
#include "cohort/data.h"
#include "cohort/error.h"
#include "cohort/plan/cluster_file.h"
#include "cohort/plan/planner.h"
#include "cohort/plan/profile.h"
#include "train/checks/preflight.h"
#include "train/process/threads.h"

namespace cohort::cli {
namespace {

struct PlanArgs {
  std::string config;
  std::vector<std::string> overrides;
  int nproc = 0;
  std::string cluster;
  // Loopback Gloo on this machine: about 1.5 GB/s for 16 MB allreduces and a
  // few hundred microseconds for small ones (docs/benchmarks/allreduce.md).
  double link_gbytes = 1.5;
  double link_latency_us = 200;
  double overlap = 0;
  int repeats = 5;
  int64_t global_batch = 0;  // 0: the config's train.batch_size x parallel.data
};

// This machine: one host of `nproc` ranks, its memory split among them.
ClusterSpec this_machine(const PlanArgs& args) {
  ClusterSpec c;
  c.ranks = c.ranks_per_host = args.nproc;
  c.within_host = c.between_hosts = Link{args.link_gbytes * 1e9, args.link_latency_us * 1e-6};
  c.overlap = args.overlap;
  c.memory_bytes = double(sysconf(_SC_PHYS_PAGES)) * double(sysconf(_SC_PAGE_SIZE)) / args.nproc;
  return c;
}

std::string layout_text(const Layout& l) {
  if (l.pipeline == 1) return fmt::format("data {}", l.data);
  return fmt::format("data {} x pipeline {} ({} micro-batches)", l.data, l.pipeline,
                     l.micro_batches);
}

nlohmann::json member_json(const MemberPlan& m) {
  return {{"name", m.name},
          {"data", m.layout.data},
          {"pipeline", m.layout.pipeline},
          {"micro_batches", m.layout.micro_batches},
          {"ranks", m.ranks},
          {"shares_ranks", m.shares_ranks},
          {"step_seconds", m.estimate.step_seconds},
          {"compute_seconds", m.estimate.compute_seconds},
          {"communication_seconds",
           m.estimate.pipeline_transfer_seconds + m.estimate.allreduce_seconds},
          {"memory_bytes", m.estimate.memory_bytes}};
}

void print_plan(const CohortPlan& plan, const CohortPlan& naive) {
  fmt::print("  {:<12} {:<40} {:<16} {:>10} {:>12}\n", "member", "layout", "ranks", "step (ms)",
             "memory (MB)");
  for (const MemberPlan& m : plan.members)
    fmt::print("  {:<12} {:<40} {:<16} {:>10.2f} {:>12.1f}{}\n", m.name, layout_text(m.layout),
               fmt::format("{}", fmt::join(m.ranks, ",")), m.estimate.step_seconds * 1e3,
               m.estimate.memory_bytes / 1e6, m.shares_ranks ? "  shares its ranks" : "");
  fmt::print(
      "planned step {:.2f} ms, bottleneck {}; naive (equal ranks, data-parallel) {:.2f} ms, "
      "bottleneck {}: {:.2f}x\n",
      plan.step_seconds * 1e3, plan.bottleneck, naive.step_seconds * 1e3, naive.bottleneck,
      naive.step_seconds / plan.step_seconds);
}

int run_plan(const PlanArgs& args) {
  if (args.cluster.empty() && args.nproc < 1)
    throw InputError("cohort plan needs --nproc N (the ranks to plan for) or --cluster FILE");
  Config config = load_config(args.config, args.overrides);
  configure_threads(config.train.threads);
  const Splits splits = load_splits(config.data);
  config = fit_to_data(config, splits.train->spec());
  ClusterSpec cluster = args.cluster.empty() ? this_machine(args) : load_cluster(args.cluster);
  if (!args.cluster.empty() && args.nproc > 0) cluster.ranks = args.nproc;

  const int64_t batch = std::min<int64_t>(config.train.batch_size, splits.train->size());
  const at::Tensor order = at::arange(splits.train->size());
  const at::Tensor sample = make_batch(*splits.train, order, 0, batch).inputs;
  std::vector<MemberCost> members;
  for (size_t i = 0; i < config.networks.size(); ++i) {
    members.push_back(profile_member(config, i, sample, args.repeats));
    fmt::print("cohort plan: profiled {}: {:.3f} ms per sample, {:.1f} MB of parameters\n",
               members.back().name, members.back().seconds_per_sample() * 1e3,
               members.back().total_parameter_bytes() / 1e6);
  }
  PlanOptions options;
  options.global_batch =
      args.global_batch > 0 ? args.global_batch : config.train.batch_size * config.parallel.data;
  if (config.parallel.micro_batches > 1) options.micro_batches = int(config.parallel.micro_batches);
  const CohortPlan plan = plan_cohort(members, cluster, options);
  const CohortPlan naive = naive_plan(members, cluster, options);
  fmt::print("cohort plan: {} members on {} ranks ({} per host), global batch {}\n", members.size(),
             cluster.ranks, cluster.ranks_per_host, options.global_batch);
  print_plan(plan, naive);
  nlohmann::json out{{"ranks", cluster.ranks},
                     {"global_batch", options.global_batch},
                     {"step_seconds", plan.step_seconds},
                     {"bottleneck", plan.bottleneck},
                     {"naive_step_seconds", naive.step_seconds},
                     {"rank_seconds", plan.rank_seconds},
                     {"peak_memory_bytes", plan.peak_memory_bytes},
                     {"members", nlohmann::json::array()}};
  for (const MemberPlan& m : plan.members) out["members"].push_back(member_json(m));
  std::cout << out.dump() << std::endl;
  return 0;
}

}  // namespace

Runner add_plan_command(CLI::App& app) {
  auto args = std::make_shared<PlanArgs>();
  auto* cmd = app.add_subcommand(
      "plan",
      "Profile each network of CONFIG on this machine and choose each one's layout (data x "
      "pipeline) and ranks to minimise the cohort's step; prints the plan, then one JSON line");
  cmd->add_option("config", args->config, "The run's .toml config")->required();
  cmd->add_option("--set", args->overrides, "Override a config key (repeatable)");
  cmd->add_option("--nproc", args->nproc, "Ranks to plan for (with --cluster: overrides its ranks)")
      ->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--cluster", args->cluster,
                  "A cluster description (TOML: ranks, ranks_per_host, speed, memory_gb, overlap, "
                  "[within_host] and [between_hosts] gbytes_per_second, latency_us) to plan for "
                  "instead of this machine");
  cmd->add_option("--link-gbps", args->link_gbytes,
                  "This machine's link between ranks, GB/s (default: loopback Gloo, 1.5)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--link-latency-us", args->link_latency_us,
                  "This machine's latency per message, microseconds (default 200)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--overlap", args->overlap,
                  "Fraction of the gradient allreduce hidden behind backward (default 0)")
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--repeats", args->repeats, "Timed runs per layer when profiling (default 5)")
      ->check(CLI::Range(1, 1000));
  cmd->add_option("--global-batch", args->global_batch,
                  "Samples per step of each member (default: train.batch_size x parallel.data)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 40));
  return [args] { return run_plan(*args); };
}

}  // namespace cohort::cli
