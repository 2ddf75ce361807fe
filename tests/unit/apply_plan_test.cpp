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
  const AppliedPlan applied = apply_plan(plan);
  EXPECT_EQ(applied.overrides,
            (std::vector<std::string>{"network.0.ranks=[1, 0]", "network.0.data=1",
                                      "network.0.pipeline=2", "network.1.ranks=[0]",
                                      "network.1.data=1"}));
}

}  // namespace
}  // namespace cohort::cli
