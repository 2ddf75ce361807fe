// Placing members whose replica counts are fixed over another number of ranks:
// what an elastic job planned by parallel.plan = "auto" does when it loses a
// rank (cohort train --nproc MIN:MAX). Each member keeps its data degree, so its
// rows, the global batch and its trajectory stay the full world's; only where
// its replicas run changes, chosen to make the busiest rank's step shortest.
#pragma once

#include <vector>

#include "cohort/plan/planner.h"

namespace cohort {

// Member k data-parallel over replicas[k] distinct ranks of `cluster`, every
// rank training at least one replica. The best found of: the placement
// place_members would give (round robin), the replicas dealt dearest first to
// the least loaded ranks; each then improved by moving one member at a time to
// any other set of ranks (every set where there are few, windows of adjacent
// ranks where there are many) while the predicted step (evaluate_plan) falls.
// InputError when a member has more replicas than there are ranks, or the
// replicas are too few to keep every rank busy.
CohortPlan place_replicas(const std::vector<MemberCost>& members, const std::vector<int>& replicas,
                          const ClusterSpec& cluster, const PlanOptions& options);

}  // namespace cohort
