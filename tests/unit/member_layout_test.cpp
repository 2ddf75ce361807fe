// Members' own layouts (cohort/member_layout.h): where each member's replicas
// go, and the layouts refused before any process starts. Pure: no processes.
#include "cohort/member_layout.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "cohort/config.h"
#include "cohort/error.h"
#include "test_paths.h"

namespace cohort {
namespace {

// `members` mlps, batch 32; overrides as `cohort train --set` takes them.
Config cohort_of(size_t members, const std::vector<std::string>& overrides = {}) {
  std::vector<std::string> all = {"train.batch_size=32"};
  for (size_t k = 0; k < members; ++k) all.push_back(fmt::format("network.{}.model=mlp", k));
  all.insert(all.end(), overrides.begin(), overrides.end());
  Config c = load_config("", all);
  c.networks.resize(members);
  return c;
}

std::string refusal(const Config& config, int world_size) {
  try {
    place_members(config, world_size);
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

TEST(MemberLayout, AbsentKeysKeepTheSharedMesh) {
  EXPECT_FALSE(uses_member_layouts(cohort_of(3)));
  EXPECT_TRUE(uses_member_layouts(cohort_of(3, {"network.1.data=1"})));
  EXPECT_TRUE(uses_member_layouts(cohort_of(3, {"network.2.ranks=[0]"})));
}

// The example without its pipeline: a cnn on two ranks, two mlps
// sharing the third.
TEST(MemberLayout, ExplicitRanksPlaceEachReplica) {
  const MemberLayouts m = place_members(
      cohort_of(3, {"network.0.ranks=[1, 0]", "network.1.ranks=[2]", "network.2.ranks=[2]"}), 3);
  EXPECT_EQ(m.ranks(0), (std::vector<int>{1, 0}));
  EXPECT_EQ(m.replicas(0), 2);
  EXPECT_EQ(m.lead_rank(0), 1);
  EXPECT_EQ(m.replica_on(0, 0), 1);
  EXPECT_EQ(m.replica_on(1, 0), -1);
  EXPECT_EQ(m.trained_on(2), (std::vector<size_t>{1, 2}));
  EXPECT_EQ(m.trained_on(0), (std::vector<size_t>{0}));
  EXPECT_EQ(m.describe({"cnn0", "mlp1", "mlp2"}),
            "rank 0: cnn0 (replica 1 of 2); rank 1: cnn0 (replica 0 of 2); rank 2: mlp1, mlp2");
}

// Without ranks, members take `data` consecutive ranks in turn, wrapping
// around: the shared mesh's network x data placement falls out as a case.
TEST(MemberLayout, MembersWithoutRanksFillTheRanksInTurn) {
  const MemberLayouts m = place_members(cohort_of(4, {"network.0.data=2", "network.1.data=2",
                                                      "network.2.data=1", "network.3.data=1"}),
                                        4);
  EXPECT_EQ(m.ranks(0), (std::vector<int>{0, 1}));
  EXPECT_EQ(m.ranks(1), (std::vector<int>{2, 3}));
  EXPECT_EQ(m.ranks(2), (std::vector<int>{0}));
  EXPECT_EQ(m.ranks(3), (std::vector<int>{1}));
  const MemberLayouts wrap =
      place_members(cohort_of(3, {"network.0.data=1", "network.1.data=2", "network.2.data=2"}), 2);
  EXPECT_EQ(wrap.ranks(1), (std::vector<int>{1, 0}));
  EXPECT_EQ(wrap.ranks(2), (std::vector<int>{1, 0}));
}

// The example: a resnet pipelined over two ranks, its first stage on
// rank 1; a cnn on ranks 2 and 3; two mlps sharing rank 0. Without ranks a
// pipelined member takes data x pipeline consecutive ranks, replica by replica.
TEST(MemberLayout, APipelinedMemberHoldsOneStagePerRank) {
  const MemberLayouts m = place_members(
      cohort_of(4, {"network.0.pipeline=2", "network.0.ranks=[1, 0]", "network.1.ranks=[2, 3]",
                    "network.2.ranks=[0]", "network.3.ranks=[0]"}),
      4);
  EXPECT_TRUE(m.pipelined(0));
  EXPECT_EQ(m.replicas(0), 1);
  EXPECT_EQ(m.lead_rank(0), 1);
  EXPECT_EQ(m.stage_on(0, 1), 0);
  EXPECT_EQ(m.stage_on(0, 0), 1);
  EXPECT_EQ(m.logits_replica(0, 0), 0);
  EXPECT_EQ(m.logits_replica(0, 1), -1);
  EXPECT_FALSE(m.whole_on(0, 1));
  EXPECT_TRUE(m.whole_on(2, 0));
  EXPECT_EQ(m.trained_on(0), (std::vector<size_t>{0, 2, 3}));
  EXPECT_EQ(m.whole_on(0), (std::vector<size_t>{2, 3}));
  EXPECT_TRUE(m.whole_on(1).empty());
  EXPECT_EQ(m.describe({"resnet", "cnn", "mlp", "mlp2"}),
            "rank 0: resnet (stage 1 of 2), mlp, mlp2; rank 1: resnet (stage 0 of 2); rank 2: cnn "
            "(replica 0 of 2); rank 3: cnn (replica 1 of 2)");
  const MemberLayouts dealt = place_members(
      cohort_of(2, {"network.0.pipeline=2", "network.0.data=2", "network.1.data=2"}), 4);
  EXPECT_EQ(dealt.ranks(0), (std::vector<int>{0, 1, 2, 3}));
  EXPECT_EQ(dealt.replica_on(0, 2), 1);
  EXPECT_EQ(dealt.stage_on(0, 3), 1);
  EXPECT_EQ(dealt.ranks(1), (std::vector<int>{0, 1}));
}

// Only whole members on one set of ranks train on the same rows everywhere: a
// pipeline on those same ranks still sends its predictions from its last stage.
TEST(MemberLayout, OnlyWholeMembersOnTheSameRanksHaveNothingToExchange) {
  EXPECT_TRUE(MemberLayouts({{0, 1}, {0, 1}}, 2).all_whole_on_same_ranks());
  EXPECT_FALSE(MemberLayouts({{0, 1}, {1, 0}}, 2).all_whole_on_same_ranks());
  EXPECT_FALSE(MemberLayouts({{0, 1}, {0}}, 2).all_whole_on_same_ranks());
  EXPECT_FALSE(MemberLayouts({{0, 1}, {0, 1}}, 2, {2, 1}).all_whole_on_same_ranks());
}

TEST(MemberLayout, ThePipelinedExampleConfigPlacesItsFourMembers) {
  const MemberLayouts m = place_members(
      load_config(COHORT_SOURCE_DIR "/examples/configs/pipelined_member.toml", {}), 5);
  EXPECT_EQ(m.stages(0), 2);
  EXPECT_EQ(m.trained_on(4), (std::vector<size_t>{2, 3}));
}

TEST(MemberLayout, AMemberWithoutItsOwnDataTakesParallelData) {
  const MemberLayouts m = place_members(
      cohort_of(2, {"parallel.data=2", "train.batch_size=16", "network.1.ranks=[0]"}), 2);
  EXPECT_EQ(m.ranks(0), (std::vector<int>{0, 1}));
  EXPECT_EQ(m.ranks(1), (std::vector<int>{0}));
}

TEST(MemberLayout, LayoutsThatCannotRunAreRefusedWithTheFix) {
  const std::pair<std::vector<std::string>, std::string> cases[] = {
      {{"network.0.data=3"}, "network.0 ('mlp0'): data = 3 replicas, but the job has 2 ranks"},
      {{"network.0.ranks=[0, 2]"}, "ranks names rank 2, but the job has ranks 0 to 1"},
      {{"network.0.ranks=[1, 1]"}, "names rank 1 twice"},
      {{"network.0.ranks=[0, 1]", "network.0.data=1"}, "data = 1 but ranks names 2 ranks"},
      {{"network.0.data=2", "train.batch_size=33"}, "cannot split the global batch"},
      {{"network.1.pipeline=3"}, "data = 1 x pipeline = 3 needs 3 ranks, but the job has 2"},
      {{"network.0.pipeline=2", "network.0.ranks=[0, 1]", "network.0.data=2"},
       "data = 2 x pipeline = 2 needs 4 ranks, but ranks names 2"},
      {{"network.0.pipeline=2", "parallel.micro_batches=64", "network.1.ranks=[0]"},
       "takes 32 samples of the global batch, fewer than parallel.micro_batches = 64"},
      {{"network.0.ranks=[0]", "network.1.ranks=[0]"}, "rank 1 of 2 trains no network"},
  };
  for (const auto& [overrides, message] : cases) {
    const std::string error = refusal(cohort_of(2, overrides), 2);
    EXPECT_NE(error.find(message), std::string::npos) << error;
  }
}

// How an elastic job's launcher hands its workers the planner's placement.
TEST(MemberLayout, PlannedRanksRoundTripAsTextAndAreCheckedAsConfigRanks) {
  const Config config = cohort_of(3, {"network.0.data=2", "network.1.data=1", "network.2.data=1"});
  const std::string text = format_member_ranks({{2, 0}, {1}, {1}});
  EXPECT_EQ(text, "2,0;1;1");
  const MemberLayouts m = place_members_as(config, 3, text, "COHORT_MEMBER_RANKS");
  EXPECT_EQ(m.ranks(0), (std::vector<int>{2, 0}));
  EXPECT_EQ(m.trained_on(1), (std::vector<size_t>{1, 2}));
  const std::pair<std::string, std::string> cases[] = {
      {"2,0;1", "places 2 members, but the config has 3"},
      {"2,0;1;1;0", "places 4 members, but the config has 3"},
      {"2,x;1;1", "'x' is not a rank"},
      {"2,0;;1", "gives member 1 no ranks"},
      {"2;1;1", "data = 2 but ranks names 1 ranks"},
      {"0,1;1;1", "rank 2 of 3 trains no network"},
      {"0,3;1;2", "ranks names rank 3, but the job has ranks 0 to 2"},
  };
  for (const auto& [given, message] : cases) {
    std::string error;
    try {
      place_members_as(config, 3, given, "COHORT_MEMBER_RANKS");
    } catch (const InputError& e) {
      error = e.what();
    }
    EXPECT_NE(error.find(message), std::string::npos) << given << ": " << error;
  }
}

TEST(MemberLayout, TheConfigKeysRoundTripAndAreCheckedWhenRead) {
  const Config c = cohort_of(2, {"network.0.data=2", "network.1.ranks=[1]"});
  const Config again = load_config("", {});  // the defaults, to compare against
  EXPECT_EQ(c.networks[0].data, 2);
  EXPECT_EQ(c.networks[1].ranks, (std::vector<int64_t>{1}));
  EXPECT_EQ(again.networks[0].data, 0);
  const std::string toml = to_toml(c);
  EXPECT_NE(toml.find("data = 2"), std::string::npos) << toml;
  EXPECT_NE(toml.find("ranks = [ 1 ]"), std::string::npos) << toml;
  EXPECT_THROW(cohort_of(1, {"network.0.data=-1"}), InputError);
  EXPECT_FALSE(uses_member_layouts(cohort_of(1, {"network.0.data=0"})));  // 0: parallel.data
  EXPECT_THROW(cohort_of(1, {"network.0.ranks=[-1]"}), InputError);
}

}  // namespace
}  // namespace cohort
