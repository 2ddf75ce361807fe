#include "cohort/plan/replan.h"

#include <fmt/format.h>

#include <algorithm>
#include <numeric>
#include <optional>

#include "cohort/error.h"
#include "cohort/member_layout.h"

namespace cohort {
namespace {

using Placement = std::vector<std::vector<int>>;  // each member's ranks, replica order

// Above this many sets of ranks per member, improve() tries windows only.
constexpr size_t kMostSetsTried = 256;

void check_replicas(const std::vector<MemberCost>& members, const std::vector<int>& replicas,
                    int ranks) {
  if (replicas.size() != members.size())
    throw InputError(
        fmt::format("{} replica counts given for {} members", replicas.size(), members.size()));
  for (size_t k = 0; k < members.size(); ++k)
    if (replicas[k] < 1 || replicas[k] > ranks)
      throw InputError(fmt::format(
          "member '{}' has {} replicas, each needing a rank of its own, but {} ranks are left: "
          "give MIN of at least {}",
          members[k].name, replicas[k], ranks, replicas[k]));
  const int total = std::accumulate(replicas.begin(), replicas.end(), 0);
  if (total < ranks)
    throw InputError(fmt::format(
        "the members' {} replicas cannot keep {} ranks busy: start fewer ranks", total, ranks));
}

// Dearest member first (its replica's predicted step), each replica on the
// least loaded rank not holding one of the member's already.
Placement least_loaded(const std::vector<MemberCost>& members, const std::vector<int>& replicas,
                       const ClusterSpec& cluster, const PlanOptions& options) {
  std::vector<double> step(members.size());
  for (size_t k = 0; k < members.size(); ++k)
    step[k] = estimate_step(members[k], Layout{replicas[k], 1, 1}, cluster, cluster.within_host,
                            options.global_batch)
                  .step_seconds;
  std::vector<size_t> order(members.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t x, size_t y) { return step[x] > step[y]; });
  // Load, then replicas held: an idle rank comes first even where steps cost nothing.
  std::vector<std::pair<double, int>> load(size_t(cluster.ranks), {0.0, 0});
  Placement placed(members.size());
  for (size_t k : order) {
    std::vector<int> by_load(static_cast<size_t>(cluster.ranks));
    std::iota(by_load.begin(), by_load.end(), 0);
    std::stable_sort(by_load.begin(), by_load.end(),
                     [&](int x, int y) { return load[size_t(x)] < load[size_t(y)]; });
    by_load.resize(size_t(replicas[k]));
    std::sort(by_load.begin(), by_load.end());
    for (int r : by_load) load[size_t(r)].first += step[k], ++load[size_t(r)].second;
    placed[k] = std::move(by_load);
  }
  return placed;
}

// Every set of `d` of `ranks` ranks in increasing order, or none when there are
// more than kMostSetsTried.
std::vector<std::vector<int>> every_set(int d, int ranks) {
  std::vector<std::vector<int>> sets;
  std::vector<int> set(static_cast<size_t>(d));
  std::iota(set.begin(), set.end(), 0);
  for (;;) {
    if (sets.size() == kMostSetsTried) return {};
    sets.push_back(set);
    int i = d - 1;
    while (i >= 0 && set[size_t(i)] == ranks - d + i) --i;
    if (i < 0) return sets;
    ++set[size_t(i)];
    for (int j = i + 1; j < d; ++j) set[size_t(j)] = set[size_t(j - 1)] + 1;
  }
}

// The sets a member of `d` replicas may move to.
std::vector<std::vector<int>> candidate_sets(int d, int ranks) {
  std::vector<std::vector<int>> sets = every_set(d, ranks);
  if (!sets.empty()) return sets;
  for (int first = 0; first < ranks; ++first) {
    std::vector<int> window;
    for (int i = 0; i < d; ++i) window.push_back((first + i) % ranks);
    sets.push_back(std::move(window));
  }
  return sets;
}

// The placement's predicted step, or nothing where it leaves a rank idle.
std::optional<CohortPlan> evaluate(const std::vector<MemberCost>& members, const Placement& placed,
                                   const ClusterSpec& cluster, const PlanOptions& options) {
  std::vector<bool> used(size_t(cluster.ranks), false);
  std::vector<MemberPlan> plans;
  for (size_t k = 0; k < members.size(); ++k) {
    for (int r : placed[k]) used[size_t(r)] = true;
    const int d = static_cast<int>(placed[k].size());
    plans.push_back(MemberPlan{members[k].name, Layout{d, 1, 1}, placed[k], false, {}});
  }
  if (std::find(used.begin(), used.end(), false) != used.end()) return std::nullopt;
  return evaluate_plan(members, std::move(plans), cluster, options);
}

// Moves one member at a time to the set of ranks that shortens the step most,
// until no move does.
CohortPlan improve(const std::vector<MemberCost>& members, Placement placed, CohortPlan best,
                   const ClusterSpec& cluster, const PlanOptions& options) {
  for (bool moved = true; moved;) {
    moved = false;
    for (size_t k = 0; k < members.size(); ++k) {
      Placement best_placed = placed;
      for (const std::vector<int>& set :
           candidate_sets(static_cast<int>(placed[k].size()), cluster.ranks)) {
        placed[k] = set;
        std::optional<CohortPlan> tried = evaluate(members, placed, cluster, options);
        if (tried && tried->step_seconds < best.step_seconds * (1 - 1e-9)) {
          best = std::move(*tried);
          best_placed = placed;
          moved = true;
        }
      }
      placed = std::move(best_placed);
    }
  }
  return best;
}

}  // namespace

CohortPlan place_replicas(const std::vector<MemberCost>& members, const std::vector<int>& replicas,
                          const ClusterSpec& cluster, const PlanOptions& options) {
  check_replicas(members, replicas, cluster.ranks);
  std::optional<CohortPlan> best;
  for (const Placement& start : {round_robin_ranks(replicas, cluster.ranks),
                                 least_loaded(members, replicas, cluster, options)}) {
    std::optional<CohortPlan> plan = evaluate(members, start, cluster, options);
    if (!plan) continue;  // round robin may leave ranks idle; least_loaded never does
    CohortPlan better = improve(members, start, std::move(*plan), cluster, options);
    if (!best || better.step_seconds < best->step_seconds) best = std::move(better);
  }
  return *best;
}

}  // namespace cohort
