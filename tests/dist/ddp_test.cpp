// DistributedDataParallel on real processes over Gloo on loopback: most tests
// start N ranks of this binary (ddp_worker.cpp holds what they run) and
// require every rank to exit cleanly; the bucket-plan default runs in a world
// of one.
#include "cohort/ddp.h"

#include <gtest/gtest.h>

#include <cstdio>

#include "cohort/launch.h"
#include "cohort/models.h"
#include "cohort/rendezvous.h"
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

// The first bucket closes once it holds 1 MiB: the cnn's after fc1's weight, the
// mlp's (1.07 MB) only with its last gradient. A first cap of 0 plans the cnn in
// one bucket.
TEST(Ddp, FirstBucketClosesOnceItHoldsOneMiB) {
  WorldInfo solo;
  solo.master_port = pick_free_port();
  const auto world = init_world(solo, std::chrono::seconds(20));
  auto mlp = build_model(ModelSpec{"mlp"});
  EXPECT_EQ(DistributedDataParallel(mlp.ptr(), world).bucket_plan().buckets.size(), 1u);
  auto cnn = build_model(ModelSpec{"cnn"});
  const auto split = DistributedDataParallel(cnn.ptr(), world).bucket_plan();
  ASSERT_EQ(split.buckets.size(), 2u);
  EXPECT_EQ(split.buckets[0], (std::vector<size_t>{7, 6, 5, 4}));  // fc2 and fc1
  auto whole = build_model(ModelSpec{"cnn"});
  DdpOptions options;
  options.first_bucket_cap_bytes = 0;
  EXPECT_EQ(DistributedDataParallel(whole.ptr(), world, options).bucket_plan().buckets.size(), 1u);
}

}  // namespace
}  // namespace cohort::test
