// Cohorts whose networks live on their own ranks (parallel.network = G) against
// the same cohort in one process, end to end through the CLI and the launcher.
// A group computes exactly the single process's operations for its networks:
// the logits it receives are bit copies, the codistillation copies and PBT's
// exploited states are copied whole. What differs is only where sums run (DDP
// when groups are also replicated), so one-replica layouts must agree to float
// round-off of identical operations (1e-6 leaves room for none), and replicated
// ones within DDP's own 1e-5 (TrainDataParallel).
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "train_harness.h"

namespace cohort {
// Named, not anonymous: a unity build compiles this file together with others.
namespace train_network_groups_test {

using test::expect_same_cohort;
using test::TempRunDir;

// Two or four mlps of different widths (the architectures may differ), 20 steps.
std::string cohort_command(const std::string& out, int networks, const std::string& extra) {
  std::string args = "--set train.max_steps=20 ";
  const char* widths[] = {"[64, 32]", "[32]", "[48]", "[16, 16]"};
  for (int k = 0; k < networks; ++k)
    args +=
        fmt::format("--set network.{0}.model=mlp --set 'network.{0}.widths={1}' ", k, widths[k]);
  return test::train_mlp(out, args + extra);
}

struct GroupCase {
  const char* name;
  int networks;
  std::string method;
};

class TrainNetworkGroups : public ::testing::TestWithParam<GroupCase> {};

// One network per group: mutual learning exchanges logits every step,
// codistillation weights every 5 steps, PBT copies members across groups.
TEST_P(TrainNetworkGroups, OneNetworkPerGroupEqualsOneProcess) {
  const GroupCase c = GetParam();
  TempRunDir single, spread;
  test::train_ok(cohort_command(single.path, c.networks, c.method));
  test::train_ok(cohort_command(
      spread.path, c.networks,
      fmt::format("{} --nproc {} --set parallel.network={}", c.method, c.networks, c.networks)));
  expect_same_cohort(single.path, spread.path, 1e-6);
}

INSTANTIATE_TEST_SUITE_P(
    Methods, TrainNetworkGroups,
    ::testing::Values(
        GroupCase{"mutual", 2, "--set cooperate.method=mutual"},
        GroupCase{"codistill", 2,
                  "--set cooperate.method=codistill --set cooperate.exchange_every=5"},
        // Four members, exploit every 5 steps: the bottom quarter copies the top
        // quarter, which lives on another rank at least once in three rounds.
        GroupCase{
            "pbt", 4,
            "--set cooperate.method=pbt --set cooperate.pbt_interval=5 "
            "--set network.1.lr=0.01 --set network.2.lr=0.2 --set 'network.1.widths=[64, 32]' "
            "--set 'network.2.widths=[64, 32]' --set 'network.3.widths=[64, 32]'"}),
    [](const auto& info) { return std::string(info.param.name); });

// Two groups of two networks, each group replicated twice (4 ranks): mutual
// learning across groups and DDP within them, against one process with the
// double batch.
TEST(TrainNetworkGroupsMesh, TwoGroupsOfTwoReplicasEqualOneProcessWithTheDoubleBatch) {
  TempRunDir single, mesh;
  test::train_ok(
      cohort_command(single.path, 4, "--set cooperate.method=mutual --set train.batch_size=32"));
  test::train_ok(cohort_command(mesh.path, 4,
                                "--set cooperate.method=mutual --set train.batch_size=16 "
                                "--nproc 4 --set parallel.network=2 --set parallel.data=2"));
  expect_same_cohort(single.path, mesh.path, 1e-5);
}

TEST(TrainNetworkGroupsMesh, GroupsThatCannotShareTheNetworksEvenlyAreRefused) {
  const auto run = test::run_shell(
      cohort_command("/nonexistent/never-made", 3, "--nproc 2 --set parallel.network=2"), 60);
  EXPECT_EQ(run.exit_code, 2) << run.output;
  EXPECT_NE(run.output.find("use a divisor of 3"), std::string::npos) << run.output;
  EXPECT_EQ(run.output.find("[rank"), std::string::npos) << "a worker started:\n" << run.output;
}

}  // namespace train_network_groups_test
}  // namespace cohort
