// DistributedDataParallel on real processes over Gloo on loopback: each test
// starts N ranks of this binary (ddp_worker.cpp holds what they run) and
// requires every rank to exit cleanly.
#include <gtest/gtest.h>

#include <cstdio>

#include "dist/ddp_processes.h"

namespace cohort::test {
namespace {

void expect_all_ranks_pass(int world_size, const std::string& scenario) {
  const auto results = run_ranks(world_size, scenario);
  // Rank 0's measured differences, for the log.
  for (size_t start = 0, end; (end = results[0].output.find('\n', start)) != std::string::npos;
       start = end + 1) {
    const std::string line = results[0].output.substr(start, end - start);
    if (line.find("max |") != std::string::npos || line.find("loss") != std::string::npos) {
      std::printf("rank 0: %s\n", line.c_str());
    }
  }
  for (size_t r = 0; r < results.size(); ++r) {
    EXPECT_EQ(results[r].exit_code, 0) << "rank " << r << " of " << scenario << ":\n"
                                       << results[r].output;
  }
}

class DdpEquivalence : public ::testing::TestWithParam<int> {};

// Default cap, a cap below one parameter, and no_sync accumulation, each
// against one process stepping on the union of the ranks' batches.
TEST_P(DdpEquivalence, MatchesOneProcessOnTheWholeBatch) { expect_all_ranks_pass(GetParam(), "exact"); }

INSTANTIATE_TEST_SUITE_P(WorldSizes, DdpEquivalence, ::testing::Values(2, 4));

TEST(Ddp, UnusedParametersNeitherHangNorSkewTheResult) { expect_all_ranks_pass(2, "unused"); }

TEST(Ddp, DifferentModelsAreRejectedByName) { expect_all_ranks_pass(2, "mismatch"); }

TEST(Ddp, CompressionHooksStayCloseAndPowerSgdTrains) { expect_all_ranks_pass(2, "hooks"); }

}  // namespace
}  // namespace cohort::test
