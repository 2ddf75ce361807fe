// Re-placing members of fixed replica counts over fewer ranks (plan/replan.h),
// what an elastic job planned by parallel.plan = "auto" does when it loses a
// rank: on given cost tables, against an exhaustive search over every set of
// ranks for every member.
#include "cohort/plan/replan.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <numeric>
#include <random>

#include "cohort/error.h"

using namespace cohort;

namespace {

MemberCost member(const std::string& name, double seconds_per_sample, double parameter_bytes = 0) {
  MemberCost m;
  m.name = name;
  m.layer_seconds = {seconds_per_sample / 2, seconds_per_sample / 2};
  m.layer_parameter_bytes = {parameter_bytes / 2, parameter_bytes / 2};
  m.layer_output_bytes = {1e4, 4e3};
  return m;
}

ClusterSpec one_host(int ranks, Link link) {
  ClusterSpec c;
  c.ranks = c.ranks_per_host = ranks;
  c.within_host = c.between_hosts = link;
  return c;
}

// The best step over every placement of each member's replicas on distinct
// ranks that keeps every rank busy.
double best_by_search(const std::vector<MemberCost>& members, const std::vector<int>& replicas,
                      const ClusterSpec& cluster, const PlanOptions& options) {
  std::vector<MemberPlan> placed(members.size());
  double best = 1e300;
  std::function<void(size_t)> go = [&](size_t k) {
    if (k == members.size()) {
      std::vector<bool> used(size_t(cluster.ranks), false);
      for (const MemberPlan& p : placed)
        for (int r : p.ranks) used[size_t(r)] = true;
      if (std::find(used.begin(), used.end(), false) == used.end())
        best = std::min(best, evaluate_plan(members, placed, cluster, options).step_seconds);
      return;
    }
    for (unsigned mask = 0; mask < (1u << cluster.ranks); ++mask) {
      if (__builtin_popcount(mask) != replicas[k]) continue;
      placed[k] = MemberPlan{members[k].name, Layout{replicas[k], 1, 1}, {}, false, {}};
      for (int r = 0; r < cluster.ranks; ++r)
        if (mask & (1u << r)) placed[k].ranks.push_back(r);
      go(k + 1);
    }
  };
  go(0);
  return best;
}

void expect_valid(const CohortPlan& plan, const std::vector<int>& replicas, int ranks) {
  std::vector<int> members_on(size_t(ranks), 0);
  ASSERT_EQ(plan.members.size(), replicas.size());
  for (size_t k = 0; k < replicas.size(); ++k) {
    const MemberPlan& p = plan.members[k];
    EXPECT_EQ(p.layout.data, replicas[k]);
    std::vector<int> sorted = p.ranks;
    std::sort(sorted.begin(), sorted.end());
    EXPECT_EQ(std::unique(sorted.begin(), sorted.end()), sorted.end()) << "a rank twice";
    ASSERT_EQ(int(p.ranks.size()), replicas[k]);
    for (int r : p.ranks) ++members_on.at(size_t(r));
  }
  for (int r = 0; r < ranks; ++r) EXPECT_GT(members_on[size_t(r)], 0) << "rank " << r << " idle";
}

}  // namespace

// Four members that had a rank each lose one: the dearest keeps a rank of its
// own, where round robin would give it a second member.
TEST(Replan, TheDearestMemberKeepsARankOfItsOwn) {
  const std::vector<MemberCost> members = {member("cnn", 4e-3), member("mlp1", 1e-3),
                                           member("mlp2", 5e-4), member("mlp3", 5e-4)};
  const std::vector<int> replicas = {1, 1, 1, 1};
  const ClusterSpec cluster = one_host(3, Link{1e12, 0});
  const CohortPlan plan = place_replicas(members, replicas, cluster, PlanOptions{});
  expect_valid(plan, replicas, 3);
  EXPECT_FALSE(plan.members[0].shares_ranks);
  EXPECT_DOUBLE_EQ(plan.step_seconds, 64 * 4e-3);
}

// On 30 seeded cohorts of 3 or 4 members (1 or 2 replicas each) re-placed on
// 2 to 4 ranks of a real link, with and without mutual learning, the result
// keeps every replica count, keeps every rank busy and matches the exhaustive
// search's best (the local search tries every set of ranks on so few).
TEST(Replan, SeededCohortsMatchTheExhaustiveSearch) {
  std::mt19937 rng(11);
  std::uniform_real_distribution<double> cost(1e-4, 3e-3), bytes(1e5, 2e7);
  double worst = 0;
  for (int trial = 0; trial < 30; ++trial) {
    const int ranks = 2 + trial % 3;
    const size_t count = 3 + size_t(trial % 2);
    std::vector<MemberCost> members;
    std::vector<int> replicas;
    for (size_t k = 0; k < count; ++k) {
      members.push_back(member(fmt::format("m{}", k), cost(rng), bytes(rng)));
      replicas.push_back(1 + int(rng() % 2));
    }
    for (size_t k = 0; std::accumulate(replicas.begin(), replicas.end(), 0) < ranks; ++k)
      replicas[k] = 2;  // enough replicas to keep every rank busy
    PlanOptions options;
    if (trial % 2) options.cooperation.kind = Cooperation::Kind::logits;
    const ClusterSpec cluster = one_host(ranks, Link{2e9, 5e-5});
    const CohortPlan plan = place_replicas(members, replicas, cluster, options);
    expect_valid(plan, replicas, ranks);
    worst =
        std::max(worst, plan.step_seconds / best_by_search(members, replicas, cluster, options));
  }
  EXPECT_LE(worst, 1.0 + 1e-9);
  RecordProperty("worst_ratio_to_search", std::to_string(worst));
}

TEST(Replan, ReplicasThatCannotFitOrFillTheRanksAreInputErrors) {
  const std::vector<MemberCost> two = {member("a", 1e-3), member("b", 1e-3)};
  const ClusterSpec three = one_host(3, Link{1e9, 1e-5});
  const std::pair<std::vector<int>, std::string> cases[] = {
      {{4, 1}, "member 'a' has 4 replicas, each needing a rank of its own, but 3 ranks are left"},
      {{1, 1}, "the members' 2 replicas cannot keep 3 ranks busy"},
      {{1}, "1 replica counts given for 2 members"},
  };
  for (const auto& [replicas, message] : cases) {
    std::string error;
    try {
      place_replicas(two, replicas, three, PlanOptions{});
    } catch (const InputError& e) {
      error = e.what();
    }
    EXPECT_NE(error.find(message), std::string::npos) << error;
  }
}

// The planner's cap on replicas, which an elastic plan sets to MIN.
TEST(Replan, ThePlannerGivesNoMemberMoreReplicasThanItsCap) {
  const std::vector<MemberCost> members = {member("cnn", 1.5e-2), member("mlp", 1e-3)};
  PlanOptions options;
  ClusterSpec cluster = one_host(4, Link{1e12, 0});
  EXPECT_GT(plan_cohort(members, cluster, options).members[0].layout.data, 2);
  options.max_data = 2;
  for (const MemberPlan& m : plan_cohort(members, cluster, options).members)
    EXPECT_LE(m.layout.data, 2) << m.name;
  for (const MemberPlan& m : naive_plan(members, cluster, options).members)
    EXPECT_LE(m.layout.data, 2) << m.name;
}
