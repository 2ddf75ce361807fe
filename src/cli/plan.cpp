// cohort plan CONFIG --nproc N|MIN:MAX [--cluster FILE]: profiles each member of the
// config on this machine and prints the layout and ranks the planner chooses
// for each (plan/planner.h), against the naive layout. The last stdout line is
// one JSON object.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>

#include "cli/commands.h"
#include "cli/machine_plan.h"
#include "cohort/config.h"
#include "cohort/data.h"
#include "cohort/error.h"
#include "cohort/member_layout.h"
#include "cohort/plan/cluster_file.h"
#include "cohort/plan/planner.h"
#include "launch/elastic_plan.h"
#include "train/checks/preflight.h"
#include "train/process/threads.h"

namespace cohort::cli {
namespace {

struct PlanArgs {
  std::string config;
  std::vector<std::string> overrides;
  std::string nproc_text;  // N, or MIN:MAX for an elastic job
  int nproc = 0;           // MAX
  int min_nproc = 0;
  std::string cluster;
  MachineLink link;
  bool link_given = false;  // --link-gbps or --link-latency-us: not measured
  int repeats = 5;
  int64_t global_batch = 0;  // 0: the config's train.batch_size x parallel.data
  int max_pipeline = 8;
};

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

// On this machine, unless the user gave it: the link measured, put into the
// cluster. What was used, for the JSON line.
nlohmann::json this_machines_link(const PlanArgs& args, int64_t threads, ClusterSpec& cluster) {
  if (!args.cluster.empty()) return {{"source", "cluster"}};
  MachineLink link = args.link;
  std::string source = "given";
  if (!args.link_given && cluster.ranks > 1) {
    const MeasuredLink measured = measure_machine_link(args.link.overlap);
    fmt::print("cohort plan: link: {}\n", measured.how);
    link = measured.link;
    source = measured.measured ? "measured" : "default";
    cluster = this_machine(cluster.ranks, link, threads);
  }
  return {{"source", source},
          {"gbytes_per_second", link.gbytes_per_second},
          {"latency_us", link.latency_us}};
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
  if (plan.exchange_seconds > 0)
    fmt::print("  of the planned step, the members' exchange between ranks: {:.2f} ms\n",
               plan.exchange_seconds * 1e3);
}

// An elastic job's plan on each count of ranks from MIN below the plan's.
nlohmann::json print_reforms(const std::vector<MemberCost>& members, const CohortPlan& plan,
                             const ClusterSpec& cluster, const PlanOptions& options, int min) {
  const int ranks = apply_plan(plan).ranks;  // the ranks the plan trains on
  nlohmann::json out = nlohmann::json::array();
  if (min >= ranks) return out;
  fmt::print("if ranks are lost (each member keeps its replicas, at most {}):\n", min);
  const auto reforms = plan_reforms(members, plan, cluster, options, min, ranks);
  for (int n = min; n < ranks; ++n) {
    const CohortPlan& placed = reforms[size_t(n - min)];
    std::vector<std::string> where;
    nlohmann::json member_ranks = nlohmann::json::array();
    for (const MemberPlan& m : placed.members) {
      where.push_back(fmt::format("{} on {}", m.name, fmt::join(m.ranks, ",")));
      member_ranks.push_back(m.ranks);
    }
    fmt::print("  on {} ranks: {}; step {:.2f} ms, bottleneck {}\n", n, fmt::join(where, "; "),
               placed.step_seconds * 1e3, placed.bottleneck);
    out.push_back(
        {{"ranks", n}, {"member_ranks", member_ranks}, {"step_seconds", placed.step_seconds}});
  }
  return out;
}

int run_plan(PlanArgs args) {
  if (!args.nproc_text.empty()) {
    const RankRange range = parse_rank_range(args.nproc_text);
    args.nproc = range.max;
    args.min_nproc = range.min;
  }
  if (args.cluster.empty() && args.nproc < 1)
    throw InputError("cohort plan needs --nproc N (the ranks to plan for) or --cluster FILE");
  Config config = load_config(args.config, args.overrides);
  configure_threads(config.train.threads);
  config = fit_to_data(config, load_splits(config.data).train->spec());
  ClusterSpec cluster = args.cluster.empty()
                            ? this_machine(args.nproc, args.link, config.train.threads)
                            : load_cluster(args.cluster);
  if (!args.cluster.empty() && args.nproc > 0) cluster.ranks = args.nproc;
  // The config's own layouts are checked before the link and the members are measured.
  const bool given = uses_member_layouts(config);
  const auto placed = given ? given_layouts(config, cluster.ranks) : std::vector<MemberPlan>{};
  const nlohmann::json link = this_machines_link(args, config.train.threads, cluster);

  const auto members = profile_cohort(config, args.repeats, [](const MemberCost& m) {
    fmt::print("cohort plan: profiled {}: {:.3f} ms per sample, {:.1f} MB of parameters\n", m.name,
               m.seconds_per_sample() * 1e3, m.total_parameter_bytes() / 1e6);
  });
  PlanOptions options = plan_options(config, args.global_batch);
  options.max_pipeline = args.max_pipeline;
  const bool elastic = args.min_nproc > 0 && args.min_nproc < cluster.ranks;
  if (elastic) {
    // What cohort train --nproc MIN:MAX with parallel.plan = "auto" runs.
    options.max_pipeline = 1;
    options.max_data = args.min_nproc;
  }
  const CohortPlan plan = plan_to_run(members, cluster, options, config);
  const CohortPlan naive = naive_plan(members, cluster, options);
  fmt::print("cohort plan: {} members on {} ranks ({} per host{}), global batch {}\n",
             members.size(), cluster.ranks, cluster.ranks_per_host,
             cluster.cores_per_host > 0 && cluster.cores_per_host < cluster.ranks_per_host
                 ? fmt::format(", sharing {} cores", cluster.cores_per_host)
                 : "",
             options.global_batch);
  print_plan(plan, naive);
  std::optional<CohortPlan> own;
  if (given) {
    own = evaluate_plan(members, placed, cluster, options);
    fmt::print("the config's own layouts: {:.2f} ms, bottleneck {}\n", own->step_seconds * 1e3,
               own->bottleneck);
  }
  nlohmann::json out{{"ranks", cluster.ranks},
                     {"global_batch", options.global_batch},
                     {"step_seconds", plan.step_seconds},
                     {"bottleneck", plan.bottleneck},
                     {"naive_step_seconds", naive.step_seconds},
                     {"rank_seconds", plan.rank_seconds},
                     {"exchange_seconds", plan.exchange_seconds},
                     {"peak_memory_bytes", plan.peak_memory_bytes},
                     {"cores_per_host", cluster.cores_per_host},
                     {"members", nlohmann::json::array()}};
  for (const MemberPlan& m : plan.members) out["members"].push_back(member_json(m));
  out["naive_members"] = nlohmann::json::array();
  for (const MemberPlan& m : naive.members) out["naive_members"].push_back(member_json(m));
  if (own) {
    out["given_step_seconds"] = own->step_seconds;
    out["given_exchange_seconds"] = own->exchange_seconds;
    out["given_members"] = nlohmann::json::array();
    for (const MemberPlan& m : own->members) out["given_members"].push_back(member_json(m));
  }
  if (elastic) out["reforms"] = print_reforms(members, plan, cluster, options, args.min_nproc);
  out["link"] = link;
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
  cmd->add_option("--nproc", args->nproc_text,
                  "Ranks to plan for (with --cluster: overrides its ranks); MIN:MAX: an elastic "
                  "job's plan, as cohort train --nproc MIN:MAX with parallel.plan = auto runs "
                  "it: data-parallel, at most MIN replicas a member, and where the members go "
                  "on every count of ranks from MIN up");
  cmd->add_option("--cluster", args->cluster,
                  "A cluster description (TOML: ranks, ranks_per_host, cores_per_host, speed, "
                  "memory_gb, overlap, "
                  "[within_host] and [between_hosts] gbytes_per_second, latency_us) to plan for "
                  "instead of this machine");
  const LinkOptions link = add_link_options(*cmd, args->link, "The link to plan for: ");
  cmd->add_option("--overlap", args->link.overlap,
                  "Fraction of the gradient allreduce hidden behind backward (default 0)")
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--repeats", args->repeats, "Timed runs per layer when profiling (default 5)")
      ->check(CLI::Range(1, 1000));
  cmd->add_option("--global-batch", args->global_batch,
                  "Samples per step of each member (default: train.batch_size x parallel.data)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 40));
  cmd->add_option("--max-pipeline", args->max_pipeline,
                  "The deepest pipeline to consider (default 8, as parallel.plan = auto "
                  "plans a job of fixed size; 1: data-parallel layouts only). Under PBT or "
                  "parallel.shard 1; under mutual learning a plan pipelining two members is "
                  "planned again with 1")
      ->check(CLI::Range(1, 1024));
  return [args, link] {
    args->link_given = link.given();
    return run_plan(*args);
  };
}

}  // namespace cohort::cli
