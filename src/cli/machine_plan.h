// Profiling a config's members on this machine and planning their layouts
// (plan/planner.h): what `cohort plan` prints and `parallel.plan = "auto"` runs.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "cohort/config.h"
#include "cohort/plan/planner.h"

namespace CLI {
class App;
class Option;
}  // namespace CLI

namespace cohort::cli {

// Loopback Gloo on this machine: about 1.5 GB/s for 16 MB allreduces and a few
// hundred microseconds for small ones (docs/benchmarks/allreduce.md).
struct MachineLink {
  double gbytes_per_second = 1.5;
  double latency_us = 200;
  double overlap = 0;  // fraction of the gradient allreduce hidden behind backward
};

// The link measured between two ranks of this machine (comm/link_probe.h):
// `how` says how it was measured, or why the defaults are kept.
struct MeasuredLink {
  MachineLink link;
  bool measured = false;
  std::string how;
};
MeasuredLink measure_machine_link(double overlap);

// --link-gbps and --link-latency-us on `cmd`, parsed into `link`, their help
// after `lead`: this machine's link given, so a plan does not rest on a
// measurement that a busy machine makes slow. `given()` (after parsing):
// whether either was given.
struct LinkOptions {
  CLI::Option* gbps = nullptr;
  CLI::Option* latency = nullptr;
  bool given() const;
};
LinkOptions add_link_options(CLI::App& cmd, MachineLink& link, const std::string& lead);

// The link given (LinkOptions::given) or else measured.
MeasuredLink machine_link(const MachineLink& link, bool given);

// One host of `nproc` ranks, its memory split among them, its cores shared by
// ranks of `threads` threads each (train.threads: 0 = the cores over the ranks).
ClusterSpec this_machine(int nproc, const MachineLink& link, int64_t threads);

// Each member's costs, measured on a batch of the config's own data; `say`
// reports each member as it is profiled. `config` must be fitted to its data.
std::vector<MemberCost> profile_cohort(const Config& config, int repeats,
                                       const std::function<void(const MemberCost&)>& say);

// The planner's options for the config: its global batch and micro-batches.
PlanOptions plan_options(const Config& config, int64_t global_batch = 0);

// The config's own member layouts (cohort/member_layout.h) as the planner's
// placements, to predict their step (evaluate_plan).
std::vector<MemberPlan> given_layouts(const Config& config, int nproc);

// The plan `cohort train` can run: pipelined members only where the config's
// method allows them beside others (not PBT, not sharding), and under mutual
// learning at most one (with two, each would wait for the other's
// predictions: the cohort is planned again without pipelines).
CohortPlan plan_to_run(const std::vector<MemberCost>& members, const ClusterSpec& cluster,
                       PlanOptions options, const Config& config);

// What makes `cohort train` run a plan: each member's `--set` data, pipeline
// (where pipelined) and ranks, and the ranks to start. Ranks the plan leaves
// idle are not started (the ones it uses are numbered from 0 in order).
struct AppliedPlan {
  std::vector<std::string> overrides;
  int ranks = 0;
  std::vector<std::vector<int>> member_ranks;  // renumbered as the overrides give them
};
AppliedPlan apply_plan(const CohortPlan& plan);

// An elastic plan (--nproc MIN:MAX) on fewer ranks: its members, each keeping
// its replicas, placed again on `cluster` cut to every count from `min` up to
// `used - 1` (used: the ranks `plan` trains on), in that order (plan/replan.h).
// InputError naming the count that cannot take them.
std::vector<CohortPlan> plan_reforms(const std::vector<MemberCost>& members, const CohortPlan& plan,
                                     const ClusterSpec& cluster, const PlanOptions& options,
                                     int min, int used);

}  // namespace cohort::cli
