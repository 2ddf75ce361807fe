// Every collective, on the world and on mesh sub-groups, against references each
// rank computes alone (see tests/worker/test_worker.cpp), under `cohort launch`.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>

#include "dist/launch_harness.h"

using namespace cohort::test;

class Collectives : public ::testing::TestWithParam<int> {};

TEST_P(Collectives, MatchLocalReferences) {
  const int n = GetParam();
  auto run = run_shell(launch_command(n, "collectives"));
  EXPECT_EQ(run.exit_code, 0) << run.output;
  for (int r = 0; r < n; ++r)
    EXPECT_NE(run.output.find("[rank " + std::to_string(r) + "] OK collectives"),
              std::string::npos)
        << run.output;
  EXPECT_EQ(run.output.find("MISMATCH"), std::string::npos) << run.output;
}

INSTANTIATE_TEST_SUITE_P(WorldSizes, Collectives, ::testing::Values(1, 2, 3, 4));

TEST(DeviceMesh, SubGroupsAlongEachDimension) {
  auto run = run_shell(launch_command(4, "mesh"));
  EXPECT_EQ(run.exit_code, 0) << run.output;
  EXPECT_EQ(run.output.find("MISMATCH"), std::string::npos) << run.output;
  for (int r = 0; r < 4; ++r)
    EXPECT_NE(run.output.find("[rank " + std::to_string(r) + "] OK mesh"), std::string::npos)
        << run.output;
}

TEST(Rendezvous, ThroughASharedFile) {
  auto path = std::filesystem::temp_directory_path() / (unique_marker() + ".store");
  auto run = run_shell(launch_command(3, "file " + path.string()));
  std::filesystem::remove(path);
  EXPECT_EQ(run.exit_code, 0) << run.output;
  EXPECT_NE(run.output.find("[rank 2] OK file"), std::string::npos) << run.output;
}
