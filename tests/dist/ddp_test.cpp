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

// The mlp's gradients (1.07 MB) fit one 25 MiB bucket; on CPU the default plans
// no separate first bucket, and PyTorch's 1 MiB first cap, asked for, splits off
// everything but fc1's weight.
TEST(Ddp, CpuDefaultPlansNoSeparateFirstBucket) {
  WorldInfo solo;
  solo.master_port = pick_free_port();
  const auto world = init_world(solo, std::chrono::seconds(20));
  ModelSpec spec;
  spec.name = "mlp";
  auto by_default = build_model(spec);
  DistributedDataParallel plain(by_default.ptr(), world);
  EXPECT_EQ(plain.bucket_plan().buckets.size(), 1u);
  auto capped = build_model(spec);
  DdpOptions options;
  options.first_bucket_cap_bytes = kCudaFirstBucketCapBytes;
  DistributedDataParallel split(capped.ptr(), world, options);
  EXPECT_EQ(split.bucket_plan().buckets.size(), 2u);
}

}  // namespace
}  // namespace cohort::test
