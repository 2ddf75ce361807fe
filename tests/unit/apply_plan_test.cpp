// parallel.plan = "auto": the planner's placements as the --set overrides the
// ranks receive (cli/machine_plan.h). Pure: no processes.
#include <gtest/gtest.h>

#include "cli/machine_plan.h"
#include "cohort/error.h"

namespace cohort::cli {
namespace {

MemberPlan member(const std::string& name, int data, int pipeline, std::vector<int> ranks) {
  MemberPlan m;
  m.name = name;
  m.layout.data = data;
  m.layout.pipeline = pipeline;
  m.ranks = std::move(ranks);
  return m;
}

TEST(ApplyPlan, EachMemberGetsItsDataAndRanks) {
  CohortPlan plan;
  plan.members = {member("cnn0", 2, 1, {0, 1}), member("mlp1", 1, 1, {2}),
                  member("mlp2", 1, 1, {2})};
  const AppliedPlan applied = apply_plan(plan);
  EXPECT_EQ(applied.ranks, 3);
  EXPECT_EQ(
      applied.overrides,
      (std::vector<std::string>{"network.0.ranks=[0, 1]", "network.0.data=2", "network.1.ranks=[2]",
                                "network.1.data=1", "network.2.ranks=[2]", "network.2.data=1"}));
}

// A rank the plan leaves idle is not started: the others are numbered from 0.
TEST(ApplyPlan, IdleRanksAreLeftOut) {
  CohortPlan plan;
  plan.members = {member("cnn0", 2, 1, {1, 3}), member("mlp1", 1, 1, {3})};
  const AppliedPlan applied = apply_plan(plan);
  EXPECT_EQ(applied.ranks, 2);
  EXPECT_EQ(applied.overrides[0], "network.0.ranks=[0, 1]");
  EXPECT_EQ(applied.overrides[2], "network.1.ranks=[1]");
}

// Replica d's stage s is ranks[d x pipeline + s] in the plan and in the config.
TEST(ApplyPlan, APipelinedMemberGetsItsStages) {
  CohortPlan plan;
  plan.members = {member("resnet0", 1, 2, {1, 0}), member("mlp1", 1, 1, {0})};
  plan.members[0].layout.micro_batches = 4;
  const AppliedPlan applied = apply_plan(plan);
  EXPECT_EQ(applied.overrides,
            (std::vector<std::string>{"network.0.ranks=[1, 0]", "network.0.data=1",
                                      "network.0.pipeline=2", "parallel.micro_batches=4",
                                      "parallel.partition=time", "network.1.ranks=[0]",
                                      "network.1.data=1"}));
}

// Two members of 3 GB of parameters (9 GB of state with momentum) on ranks of
// 6 GB: each fits only cut into two stages.
TEST(PlanToRun, PipelinesWhereTheMethodCanRunThem) {
  ClusterSpec cluster;
  cluster.ranks = cluster.ranks_per_host = 4;
  cluster.within_host = cluster.between_hosts = Link{1e30, 0};
  cluster.memory_bytes = 6e9;
  std::vector<MemberCost> members(2);
  for (size_t k = 0; k < 2; ++k) {
    members[k].name = "wide" + std::to_string(k);
    members[k].layer_seconds.assign(4, 0.0025);
    members[k].layer_parameter_bytes.assign(4, 0.75e9);
    members[k].layer_output_bytes.assign(4, 0);
  }
  Config config = load_config("", {"cooperate.method=ensemble"});
  const CohortPlan plan = plan_to_run(members, cluster, PlanOptions{}, config);
  for (const MemberPlan& m : plan.members) EXPECT_EQ(m.layout.pipeline, 2) << m.name;
  config.cooperate.method = "mutual";
  try {
    plan_to_run(members, cluster, PlanOptions{}, config);
    ADD_FAILURE() << "two pipelines under mutual learning were planned";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("at most one can be"), std::string::npos) << e.what();
  }
  config.cooperate.method = "pbt";
  EXPECT_THROW(plan_to_run(members, cluster, PlanOptions{}, config), InputError);
}

}  // namespace
}  // namespace cohort::cli
