// The planner on given cost tables: the cost model's arithmetic, the layouts it
// picks, and its plans against an exhaustive search over placements.
#include "cohort/plan/planner.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <random>

#include "cohort/error.h"

using namespace cohort;

namespace {

// `layers` equal layers costing `seconds_per_sample` in all; `parameter_bytes` spread evenly.
MemberCost uniform_member(const std::string& name, int layers, double seconds_per_sample,
                          double parameter_bytes = 0, double output_bytes = 0) {
  MemberCost m;
  m.name = name;
  m.layer_seconds.assign(layers, seconds_per_sample / layers);
  m.layer_parameter_bytes.assign(layers, parameter_bytes / layers);
  m.layer_output_bytes.assign(layers, output_bytes);
  return m;
}

// Communication that costs nothing, so the tests see compute and placement alone.
ClusterSpec free_links(int ranks, int ranks_per_host) {
  ClusterSpec c;
  c.ranks = ranks;
  c.ranks_per_host = ranks_per_host;
  c.within_host = c.between_hosts = Link{1e30, 0};
  return c;
}

int rank_count(const CohortPlan& plan, const std::string& name) {
  for (const MemberPlan& m : plan.members)
    if (m.name == name) return static_cast<int>(m.ranks.size());
  ADD_FAILURE() << "no member " << name;
  return 0;
}

}  // namespace

TEST(CostModel, OneRankCostsTheBatchTimesThePerSampleTimePlusTheStepOverhead) {
  MemberCost m = uniform_member("m", 3, 0.003);
  m.step_overhead_seconds = 0.5;
  const StepEstimate e = estimate_step(m, Layout{1, 1, 1}, free_links(1, 1), Link{}, 64);
  EXPECT_DOUBLE_EQ(e.compute_seconds, 64 * 0.003 + 0.5);
  EXPECT_EQ(e.pipeline_transfer_seconds, 0);
  EXPECT_EQ(e.allreduce_seconds, 0);
  EXPECT_DOUBLE_EQ(e.step_seconds, e.compute_seconds);
}

TEST(CostModel, DataParallelHalvesComputeAndPaysARingAllreduceOfTheGradients) {
  const MemberCost m = uniform_member("m", 2, 0.002, 8e6);
  ClusterSpec c = free_links(2, 2);
  const Link link{1e9, 1e-4};
  const StepEstimate e = estimate_step(m, Layout{2, 1, 1}, c, link, 64);
  EXPECT_DOUBLE_EQ(e.compute_seconds, 32 * 0.002);
  // Ring over 2: each rank sends and receives half the bytes twice, 2 latencies.
  EXPECT_DOUBLE_EQ(e.allreduce_seconds, 2.0 * 1 / 2 * 8e6 / 1e9 + 2 * 1e-4);
  c.overlap = 0.75;
  EXPECT_DOUBLE_EQ(estimate_step(m, Layout{2, 1, 1}, c, link, 64).allreduce_seconds,
                   0.25 * e.allreduce_seconds);
}

// Learning from each other: what crosses between ranks and what each rank recomputes.
TEST(CostModel, MutualLearningSendsEachRankThePeersLogitsOnItsRows) {
  // Two members of 10 float32 logits per sample, global batch 64.
  const std::vector<MemberCost> members = {uniform_member("a", 2, 1e-3, 0, 40),
                                           uniform_member("b", 3, 1e-3, 0, 40)};
  const Link link{1e6, 1e-3};
  // Apart on one rank each: each sends and receives the other's 64 rows.
  const MemberLayouts apart({{0}, {1}}, 2);
  EXPECT_DOUBLE_EQ(logit_exchange_seconds(members, logit_traffic(apart, 64), link),
                   64 * 40 / 1e6 + 1e-3);
  // a's replicas on ranks 0 and 1, b on rank 2: rank 2 hears from both, 32 rows each.
  const MemberLayouts beside({{0, 1}, {2}}, 3);
  EXPECT_DOUBLE_EQ(logit_exchange_seconds(members, logit_traffic(beside, 64), link),
                   64 * 40 / 1e6 + 2 * 1e-3);
  EXPECT_EQ(logit_exchange_seconds(members, logit_traffic(MemberLayouts({{0}, {0}}, 1), 64), link),
            0);
}

TEST(CostModel, CodistillationBroadcastsEachMembersWeightsOnceEveryExchange) {
  const std::vector<MemberCost> members = {uniform_member("a", 2, 1e-3, 4e6),
                                           uniform_member("b", 2, 1e-3, 1e6)};
  const Link link{1e9, 1e-4};
  // Two ranks: one send of each member's weights, a 1/50 share per step.
  EXPECT_DOUBLE_EQ(
      weight_exchange_seconds(members, Cooperation{Cooperation::Kind::stale_copies, 50}, 2, link),
      (4e6 / 1e9 + 1e-4 + 1e6 / 1e9 + 1e-4) / 50);
  EXPECT_EQ(weight_exchange_seconds(members, Cooperation{}, 2, link), 0);
  EXPECT_EQ(
      weight_exchange_seconds(members, Cooperation{Cooperation::Kind::stale_copies, 50}, 1, link),
      0);
}

TEST(CostModel, EveryStaleCopyRunsForwardOnTheRowsARankTrains) {
  std::vector<MemberCost> members = {uniform_member("a", 2, 3e-3), uniform_member("b", 2, 6e-3)};
  const Cooperation codistill{Cooperation::Kind::stale_copies, 50};
  ClusterSpec cluster = free_links(2, 2);
  // Unmeasured: a forward is a third of forward and backward.
  EXPECT_DOUBLE_EQ(stale_copy_seconds(members, codistill, 32, cluster), 32 * (1e-3 + 2e-3));
  members[0].inference_seconds = 5e-4;
  cluster.speed = 2;
  EXPECT_DOUBLE_EQ(stale_copy_seconds(members, codistill, 32, cluster), 32 * (5e-4 + 2e-3) / 2);
  EXPECT_EQ(stale_copy_seconds(members, Cooperation{Cooperation::Kind::logits, 1}, 32, cluster), 0);
  EXPECT_EQ(stale_copy_seconds({members[0]}, codistill, 32, cluster), 0);
}

// A layer's call costs a fixed time: two replicas on half the batch each are
// slower than half of one, and the fit through two measured batches finds it.
TEST(CostModel, EachLayerCallCostsAFixedTimeBesideItsSamples) {
  MemberCost m = uniform_member("m", 2, 0.002);
  m.layer_call_seconds = {0.01, 0.01};
  const ClusterSpec c = free_links(2, 2);
  EXPECT_DOUBLE_EQ(estimate_step(m, Layout{1, 1, 1}, c, Link{}, 64).compute_seconds,
                   0.02 + 64 * 0.002);
  EXPECT_DOUBLE_EQ(estimate_step(m, Layout{2, 1, 1}, c, Link{}, 64).compute_seconds,
                   0.02 + 32 * 0.002);
  // Two stages of one layer, 4 micro-batches of 16: 5 slots of (0.01 + 16 x 0.001).
  EXPECT_DOUBLE_EQ(estimate_step(m, Layout{1, 2, 4}, c, Link{}, 64).compute_seconds,
                   5 * (0.01 + 16 * 0.001));

  MemberCost fitted;
  fit_layer_times({0.01 + 64 * 1e-4, 0.5}, 64, {0.01 + 16 * 1e-4, 0.6}, 16, fitted);
  EXPECT_NEAR(fitted.layer_call_seconds[0], 0.01, 1e-12);
  EXPECT_NEAR(fitted.layer_seconds[0], 1e-4, 1e-12);
  // The small batch slower than the large (noise): all of it per sample.
  EXPECT_EQ(fitted.layer_call_seconds[1], 0);
  EXPECT_NEAR(fitted.layer_seconds[1], 0.5 / 64, 1e-12);
  EXPECT_THROW(fit_layer_times({1.0}, 16, {1.0}, 64, fitted), InputError);
}

// The measured link is the one whose ring model gives back the measured times.
TEST(CostModel, ALinkMeasuredByTwoAllreducesPredictsThemBoth) {
  for (int ranks : {2, 3, 8}) {
    const double hops = 2.0 * (ranks - 1), share = hops / ranks;
    const double bandwidth = 1.5e9, latency = 120e-6;
    auto took = [&](double bytes) { return share * bytes / bandwidth + hops * latency; };
    const Link link = link_from_allreduces(ranks, 4, took(4), 16e6, took(16e6));
    EXPECT_NEAR(link.bytes_per_second, bandwidth, bandwidth * 1e-9) << ranks;
    EXPECT_NEAR(link.latency_seconds, latency, 1e-12) << ranks;
  }
  // The large allreduce no slower than the small: measured in noise.
  EXPECT_THROW(link_from_allreduces(2, 4, 1e-3, 16e6, 1e-3), InputError);
  EXPECT_THROW(link_from_allreduces(1, 4, 1e-4, 16e6, 1e-2), InputError);
  EXPECT_THROW(link_from_allreduces(2, 16e6, 1e-2, 4, 1e-4), InputError);
}

TEST(CostModel, A1F1BPipelineRunsMPlusPMinusOneSlotsOfItsSlowestStage) {
  // Four layers costing 1, 1, 1, 3: two balanced stages are {1,1,1} and {3}.
  MemberCost m = uniform_member("m", 4, 0, 0, 1000);
  m.layer_seconds = {0.001, 0.001, 0.001, 0.003};
  const Link link{1e6, 1e-3};
  const StepEstimate e = estimate_step(m, Layout{1, 2, 4}, free_links(2, 2), link, 64);
  const double micro_batch = 16, slots = 4 + 2 - 1;
  EXPECT_DOUBLE_EQ(e.compute_seconds, slots * 0.003 * micro_batch);
  // One activation forward and one gradient back per slot over the one cut.
  EXPECT_DOUBLE_EQ(e.pipeline_transfer_seconds, 2 * slots * (1000 * micro_batch / 1e6 + 1e-3));
}

TEST(CostModel, MemoryCountsStateOfTheFullestStageAndTheActivationsItHolds) {
  MemberCost m = uniform_member("m", 2, 0.002, 200, 10);
  m.optimizer_state_factor = 2;  // Adam: parameters, gradients and two moments
  const StepEstimate one = estimate_step(m, Layout{1, 1, 1}, free_links(1, 1), Link{}, 64);
  EXPECT_DOUBLE_EQ(one.memory_bytes, 200 * 4 + 2 * 10 * 64);
  // Two stages, 4 micro-batches of 16: 1F1B holds min(M, P) = 2 of them per stage.
  const StepEstimate two = estimate_step(m, Layout{1, 2, 4}, free_links(2, 2), Link{}, 64);
  EXPECT_DOUBLE_EQ(two.memory_bytes, 100 * 4 + 10 * 2 * 16);
}

TEST(CostModel, LayoutsMustSplitTheBatchAndTheLayersEvenly) {
  const MemberCost m = uniform_member("m", 3, 0.003);
  EXPECT_TRUE(layout_valid(m, Layout{4, 1, 1}, 64));
  EXPECT_FALSE(layout_valid(m, Layout{3, 1, 1}, 64)) << "64 samples do not split over 3 replicas";
  EXPECT_FALSE(layout_valid(m, Layout{1, 4, 4}, 64)) << "4 stages of 3 layers";
  EXPECT_FALSE(layout_valid(m, Layout{2, 2, 3}, 64)) << "32 samples in 3 micro-batches";
  EXPECT_FALSE(layout_valid(m, Layout{1, 1, 2}, 64)) << "micro-batches without a pipeline";
}

// Every placement where each member takes a valid layout on consecutive ranks
// starting anywhere (members may overlap): the reference the planner is held to.
double best_placement_by_search(const std::vector<MemberCost>& members, const ClusterSpec& cluster,
                                const PlanOptions& options) {
  std::vector<std::vector<MemberPlan>> choices(members.size());
  for (size_t i = 0; i < members.size(); ++i)
    for (int p = 1; p <= cluster.ranks; ++p)
      for (int d = 1; d * p <= cluster.ranks; ++d) {
        const Layout layout{d, p, p == 1 ? 1 : options.micro_batches};
        if (!layout_valid(members[i], layout, options.global_batch)) continue;
        for (int first = 0; first + d * p <= cluster.ranks; ++first) {
          MemberPlan plan{members[i].name, layout, {}, false, {}};
          for (int r = 0; r < d * p; ++r) plan.ranks.push_back(first + r);
          choices[i].push_back(plan);
        }
      }
  double best = 1e300;
  std::vector<MemberPlan> placed(members.size());
  std::function<void(size_t)> go = [&](size_t i) {
    if (i == members.size()) {
      best = std::min(best, evaluate_plan(members, placed, cluster, options).step_seconds);
      return;
    }
    for (const MemberPlan& c : choices[i]) {
      placed[i] = c;
      go(i + 1);
    }
  };
  go(0);
  return best;
}

TEST(Planner, AMemberFifteenTimesDearerGetsTheRanksItsCostNeeds) {
  // The case: a cnn costing 15 times an mlp, in a cohort of one each, on
  // 4 ranks whose messages cost 10 ms each.
  const std::vector<MemberCost> members = {uniform_member("cnn", 4, 0.015),
                                           uniform_member("mlp", 4, 0.001)};
  ClusterSpec cluster = free_links(4, 4);
  cluster.within_host = cluster.between_hosts = Link{1e12, 10e-3};
  const CohortPlan plan = plan_cohort(members, cluster, PlanOptions{});
  const CohortPlan naive = naive_plan(members, cluster, PlanOptions{});
  EXPECT_GT(rank_count(plan, "cnn"), rank_count(plan, "mlp"));
  EXPECT_EQ(naive.bottleneck, "cnn");
  // Naive: the cnn data-parallel over 2 ranks, 32 x 0.015 s and two latencies.
  EXPECT_DOUBLE_EQ(naive.step_seconds, 32 * 0.015 + 2 * 10e-3);
  EXPECT_LE(plan.step_seconds, best_placement_by_search(members, cluster, PlanOptions{}) + 1e-12);
  EXPECT_LT(plan.step_seconds, 0.75 * naive.step_seconds);
}

TEST(Planner, WithFreeCommunicationTheWorkSpreadsEvenlyOverTheRanks) {
  const std::vector<MemberCost> members = {uniform_member("cnn", 4, 0.015),
                                           uniform_member("mlp", 4, 0.001)};
  const CohortPlan plan = plan_cohort(members, free_links(4, 4), PlanOptions{});
  EXPECT_NEAR(plan.step_seconds, 64 * (0.015 + 0.001) / 4, 1e-12);
}

TEST(Planner, SmallMembersShareRanksUntilTheRanksAreEvenlyBusy) {
  std::vector<MemberCost> members;
  for (int i = 0; i < 4; ++i) members.push_back(uniform_member("mlp" + std::to_string(i), 2, 1e-3));
  const CohortPlan plan = plan_cohort(members, free_links(2, 2), PlanOptions{});
  EXPECT_DOUBLE_EQ(plan.step_seconds, 2 * 64 * 1e-3);
  EXPECT_DOUBLE_EQ(plan.rank_seconds[0], plan.rank_seconds[1]);
  for (const MemberPlan& m : plan.members) EXPECT_TRUE(m.shares_ranks) << m.name;
}

TEST(Planner, AMemberTooLargeForOneRanksMemoryIsPipelined) {
  // 3 GB of parameters with momentum: 9 GB of state, 4.5 GB per half; ranks of 6 GB.
  ClusterSpec cluster = free_links(2, 2);
  cluster.memory_bytes = 6e9;
  const std::vector<MemberCost> members = {uniform_member("wide", 4, 0.01, 3e9)};
  const CohortPlan plan = plan_cohort(members, cluster, PlanOptions{});
  EXPECT_EQ(plan.members[0].layout.pipeline, 2);
  EXPECT_EQ(plan.members[0].layout.data, 1);
  EXPECT_TRUE(plan.fits);
  EXPECT_LE(plan.peak_memory_bytes, 6e9);
  cluster.memory_bytes = 4e9;
  EXPECT_THROW(plan_cohort(members, cluster, PlanOptions{}), InputError);
}

TEST(Planner, SlowLinksBetweenHostsKeepAMembersRanksInOneHost) {
  ClusterSpec cluster = free_links(8, 4);
  cluster.between_hosts = Link{1e6, 1e-3};
  const std::vector<MemberCost> members = {uniform_member("a", 4, 0.01, 4e6),
                                           uniform_member("b", 4, 0.01, 4e6)};
  const CohortPlan plan = plan_cohort(members, cluster, PlanOptions{});
  for (const MemberPlan& m : plan.members) {
    ASSERT_EQ(m.ranks.size(), 4u) << m.name;
    EXPECT_EQ(m.ranks.front() / 4, m.ranks.back() / 4) << m.name << " spans two hosts";
    EXPECT_LT(m.estimate.allreduce_seconds, 1e-9) << m.name << " pays for the slow link";
  }
}

TEST(Planner, TheExchangeIsPaidWhereMembersTrainOnDifferentRanks) {
  const std::vector<MemberCost> members = {uniform_member("a", 2, 1e-3, 0, 40),
                                           uniform_member("b", 2, 1e-3, 0, 40)};
  ClusterSpec cluster = free_links(2, 2);
  cluster.within_host = Link{1e6, 0};
  PlanOptions mutual;
  mutual.cooperation.kind = Cooperation::Kind::logits;
  const auto place = [&](std::vector<int> a, std::vector<int> b) {
    return evaluate_plan(members,
                         {MemberPlan{"a", Layout{int(a.size()), 1, 1}, a, false, {}},
                          MemberPlan{"b", Layout{int(b.size()), 1, 1}, b, false, {}}},
                         cluster, mutual);
  };
  const double exchange = 40 * 64 / 1e6;  // each rank sends the other its member's logits
  const CohortPlan apart = place({0}, {1});
  EXPECT_DOUBLE_EQ(apart.exchange_seconds, exchange);
  EXPECT_DOUBLE_EQ(apart.step_seconds, 64 * 1e-3 + exchange);
  const CohortPlan together = place({0, 1}, {0, 1});
  EXPECT_EQ(together.exchange_seconds, 0);
  EXPECT_DOUBLE_EQ(together.step_seconds, 2 * 32 * 1e-3);
  // The run's rule (MemberLayouts::all_whole_on_same_ranks): a pipeline on the
  // other's ranks still sends its last stage's predictions, and the plan pays.
  const CohortPlan pipelined = evaluate_plan(members,
                                             {MemberPlan{"a", Layout{1, 2, 1}, {0, 1}, false, {}},
                                              MemberPlan{"b", Layout{2, 1, 1}, {0, 1}, false, {}}},
                                             cluster, mutual);
  EXPECT_GT(pipelined.exchange_seconds, 0);
  // The planner sees it: equal compute either way, so the members stay together.
  const CohortPlan plan = plan_cohort(members, cluster, mutual);
  EXPECT_EQ(plan.members[0].ranks, plan.members[1].ranks);
  EXPECT_DOUBLE_EQ(plan.step_seconds, together.step_seconds);
}

TEST(Planner, CodistillingMembersOnTheSameRowsShareTheirStaleForwards) {
  std::vector<MemberCost> members = {uniform_member("a", 2, 1e-3), uniform_member("b", 2, 1e-3)};
  for (MemberCost& m : members) m.inference_seconds = 1e-4;
  PlanOptions codistill;
  codistill.cooperation = Cooperation{Cooperation::Kind::stale_copies, 50};
  const ClusterSpec cluster = free_links(2, 2);
  // Both on rank 0, one replica each: one pass of both copies over the 64 rows.
  const CohortPlan shared = evaluate_plan(members,
                                          {MemberPlan{"a", Layout{1, 1, 1}, {0}, false, {}},
                                           MemberPlan{"b", Layout{1, 1, 1}, {0}, false, {}}},
                                          cluster, codistill);
  EXPECT_DOUBLE_EQ(shared.rank_seconds[0], 2 * 64 * 1e-3 + 64 * 2e-4);
  // b on both ranks: rank 0 trains rows of a and other rows of b's replica 0.
  const CohortPlan apart = evaluate_plan(members,
                                         {MemberPlan{"a", Layout{1, 1, 1}, {0}, false, {}},
                                          MemberPlan{"b", Layout{2, 1, 1}, {0, 1}, false, {}}},
                                         cluster, codistill);
  EXPECT_DOUBLE_EQ(apart.rank_seconds[0], 64 * 1e-3 + 32 * 1e-3 + (64 + 32) * 2e-4);
  EXPECT_DOUBLE_EQ(apart.rank_seconds[1], 32 * 1e-3 + 32 * 2e-4);
}

// Four busy ranks on two cores take twice as long as on four: the step is at
// least the host's work over its cores, and the planner, seeing that, keeps to
// as many busy ranks as cores where more would only add messages.
TEST(Planner, RanksBeyondTheCoresTimeShareThem) {
  const std::vector<MemberCost> members = {uniform_member("a", 2, 1e-3),
                                           uniform_member("b", 2, 1e-3)};
  ClusterSpec cluster = free_links(4, 4);
  const std::vector<MemberPlan> apart = {MemberPlan{"a", Layout{2, 1, 1}, {0, 1}, false, {}},
                                         MemberPlan{"b", Layout{2, 1, 1}, {2, 3}, false, {}}};
  const PlanOptions options;
  EXPECT_DOUBLE_EQ(evaluate_plan(members, apart, cluster, options).step_seconds, 32 * 1e-3);
  cluster.cores_per_host = 2;
  const CohortPlan shared = evaluate_plan(members, apart, cluster, options);
  EXPECT_DOUBLE_EQ(shared.step_seconds, 4 * 32 * 1e-3 / 2);
  for (double busy : shared.rank_seconds) EXPECT_DOUBLE_EQ(busy, 64 * 1e-3);
  // Two busy ranks fit the cores: no sharing.
  const std::vector<MemberPlan> two = {MemberPlan{"a", Layout{1, 1, 1}, {0}, false, {}},
                                       MemberPlan{"b", Layout{1, 1, 1}, {1}, false, {}}};
  EXPECT_DOUBLE_EQ(evaluate_plan(members, two, cluster, options).step_seconds, 64 * 1e-3);
  EXPECT_DOUBLE_EQ(plan_cohort(members, cluster, options).step_seconds, 64 * 1e-3);
  // With a cost per message, spreading over all 4 ranks loses (each member over
  // 2: 34 ms per rank, 68 over the cores): the plan keeps to as many as cores.
  cluster.within_host = cluster.between_hosts = Link{1e12, 1e-3};
  const CohortPlan cored = plan_cohort(members, cluster, options);
  EXPECT_DOUBLE_EQ(cored.step_seconds, 64 * 1e-3);
  EXPECT_EQ(std::count_if(cored.rank_seconds.begin(), cored.rank_seconds.end(),
                          [](double busy) { return busy > 0; }),
            2);
}

TEST(Planner, BadCostTablesAndClustersAreInputErrors) {
  MemberCost broken = uniform_member("broken", 3, 0.003);
  broken.layer_output_bytes.pop_back();
  EXPECT_THROW(plan_cohort({broken}, free_links(2, 2), PlanOptions{}), InputError);
  EXPECT_THROW(plan_cohort({}, free_links(2, 2), PlanOptions{}), InputError);
  EXPECT_THROW(plan_cohort({uniform_member("m", 2, 1)}, free_links(0, 1), PlanOptions{}),
               InputError);
}

TEST(Planner, RandomCohortsComeWithinATenthOfTheBestPlacement) {
  // Three members of 1 to 4 layers, costs spread over 30x, 4 ranks in 2 hosts with
  // real link costs. The greedy (largest member first, on the fewest ranks that
  // take it) is a heuristic: on these 30 tables its worst is 1.07 of the search's
  // best (two members sharing 2 ranks where the search spreads one over 4). With
  // mutual learning or codistillation, whose exchange and stale forwards the
  // greedy does not weigh, it alone came within 1.21; with the blocks of ranks
  // (members sharing rows) weighed beside it, within 1.07.
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> cost(1e-4, 3e-3), bytes(1e5, 5e7);
  ClusterSpec cluster;
  cluster.ranks = 4;
  cluster.ranks_per_host = 2;
  cluster.within_host = Link{5e9, 2e-5};
  cluster.between_hosts = Link{1e9, 1e-4};
  cluster.overlap = 0.5;
  const PlanOptions options;
  // Worst ratio without cooperation, and with mutual learning or codistillation,
  // whose exchange the greedy does not see (only the final comparison does).
  double worst_ratio = 0, worst_cooperating = 0;
  for (int trial = 0; trial < 30; ++trial) {
    std::vector<MemberCost> members;
    for (int i = 0; i < 3; ++i) {
      const int layers = 1 + static_cast<int>(rng() % 4);
      MemberCost m = uniform_member(fmt::format("m{}", i), layers, 0, 0, 1e4);
      for (int l = 0; l < layers; ++l) {
        m.layer_seconds[l] = cost(rng);
        m.layer_parameter_bytes[l] = bytes(rng);
      }
      members.push_back(m);
    }
    for (const Cooperation& cooperation : {Cooperation{}, Cooperation{Cooperation::Kind::logits, 1},
                                           Cooperation{Cooperation::Kind::stale_copies, 10}}) {
      PlanOptions with = options;
      with.cooperation = cooperation;
      const double planned = plan_cohort(members, cluster, with).step_seconds;
      const double searched = best_placement_by_search(members, cluster, with);
      double& worst = cooperation.kind == Cooperation::Kind::none ? worst_ratio : worst_cooperating;
      worst = std::max(worst, planned / searched);
    }
  }
  EXPECT_LE(worst_ratio, 1.10);
  EXPECT_LE(worst_cooperating, 1.10);
  RecordProperty("worst_ratio_to_search", std::to_string(worst_ratio));
  RecordProperty("worst_cooperating_ratio_to_search", std::to_string(worst_cooperating));
}
