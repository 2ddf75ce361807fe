// Choosing every cohort member's layout and ranks so that the cohort's step,
// which waits for its slowest rank, is as short as the ranks allow. A pure
// function of the costs (plan/cost_model.h): unit tested on given cost tables,
// fed by a profile on this machine or a cluster description for larger ones.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cohort/plan/cost_model.h"

namespace cohort {

struct PlanOptions {
  int64_t global_batch = 64;  // samples per step, the same for every member
  int micro_batches = 4;      // per replica, for members that are pipelined
  int max_pipeline = 8;       // the deepest pipeline the planner will try
  int max_data = 0;           // the most replicas of a member (0: as many as there are ranks)
  Cooperation cooperation;    // what the members exchange (cost_model.h)
};

struct MemberPlan {
  std::string name;
  Layout layout;
  std::vector<int> ranks;  // data-major: replica d's stage s is ranks[d * pipeline + s]
  bool shares_ranks = false;
  StepEstimate estimate;
};

struct CohortPlan {
  std::vector<MemberPlan> members;
  std::vector<double> rank_seconds;  // busy time per step of each rank (0: idle; at least
                                     // its host's work over its cores where they are shared)
  double exchange_seconds = 0;       // of each rank's: the members' exchange (cost_model.h)
  double step_seconds = 0;           // the busiest rank's: the cohort's step
  std::string bottleneck;            // a member on the busiest rank
  double peak_memory_bytes = 0;      // the fullest rank's
  bool fits = true;                  // within cluster.memory_bytes on every rank
};

// Each member's best layout on exactly r ranks for every r, within one host and
// across hosts; then the shortest step T at which a greedy places every member:
// members in decreasing order of cost per sample, each on the fewest ranks whose
// busy time stays within T with it (the fullest such ranks, in one host where
// that suffices), ranks shared freely. T is searched among the members' own
// step times, then lowered by bisection. The naive plan, or the ranks cut
// into 1 to K equal blocks with each member data-parallel over one (members of
// a block share rows: no exchange among them), or where hosts have fewer cores
// than ranks the plan for as many ranks per host as cores, is returned instead
// where it is better (the greedy is a heuristic, blind to the exchange and to
// ranks sharing cores). InputError when a
// member fits no layout's memory or the members cannot all be placed.
CohortPlan plan_cohort(const std::vector<MemberCost>& members, const ClusterSpec& cluster,
                       const PlanOptions& options);

// Today's placement, the baseline: the ranks split equally, each member data-parallel
// over its share (members share ranks round-robin when they outnumber the ranks).
CohortPlan naive_plan(const std::vector<MemberCost>& members, const ClusterSpec& cluster,
                      const PlanOptions& options);

// The step of given placements: each member's layout and ranks (one rank for
// every layout.ranks()); members on the same rank run one after the other, and
// every rank in use pays the exchange when the members' ranks differ. Under
// codistillation each rank also runs every stale copy once per set of rows
// its members train on (members of equal replica count and index share rows).
// A host whose busy ranks outnumber its cores (cluster.cores_per_host) keeps
// each of them busy at least its total over the cores.
CohortPlan evaluate_plan(const std::vector<MemberCost>& members, std::vector<MemberPlan> placed,
                         const ClusterSpec& cluster, const PlanOptions& options);

// The link joining `ranks`: within a host when they all are on one.
const Link& link_between(const std::vector<int>& ranks, const ClusterSpec& cluster);

}  // namespace cohort
