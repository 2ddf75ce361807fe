// `cohort train --nproc N` with parallel.data = N against one process with the
// N-times larger batch, end to end through the CLI, the launcher and DDP.
#include "train_harness.h"

namespace cohort {
namespace {

using test::TempRunDir;

std::string train_command(const std::string& out, int nproc, int per_rank_batch,
                          const std::string& extra = "") {
  return test::train_mlp(out, "--nproc " + std::to_string(nproc) +
                                  " --set parallel.data=" + std::to_string(nproc) +
                                  " --set train.batch_size=" + std::to_string(per_rank_batch) +
                                  " --set 'network.0.widths=[64]' --set train.max_steps=20 " +
                                  extra);
}

// Strided shards make rank r's batch b the positions 2(bB + i) + r of the epoch's
// permutation: together exactly the single process's batch b of 2B. The averaged
// per-rank mean gradients equal the full-batch mean gradient up to float32
// summation order (~1e-7 relative per step); 20 momentum steps amplify that to
// well under 1e-5 on weights of magnitude ~0.05.
TEST(TrainDataParallel, TwoRanksEqualOneProcessWithTheDoubleBatch) {
  TempRunDir single, dp;
  auto one = test::run_shell(train_command(single.path, 1, 32), 300);
  ASSERT_EQ(one.exit_code, 0) << one.output;
  auto two = test::run_shell(train_command(dp.path, 2, 16), 300);
  ASSERT_EQ(two.exit_code, 0) << two.output;
  // The parent prints the summary as the last line: a JSON object.
  EXPECT_EQ(test::last_line(two.output).rfind("{\"networks\"", 0), 0u) << two.output;
  test::expect_same_weights(single.path, dp.path, 1e-5);
}

TEST(TrainDataParallel, CompressedGradientsStayCloseToExact) {
  TempRunDir exact, half;
  ASSERT_EQ(test::run_shell(train_command(exact.path, 2, 16), 300).exit_code, 0);
  auto run = test::run_shell(train_command(half.path, 2, 16, "--set parallel.comm_hook=fp16"), 300);
  ASSERT_EQ(run.exit_code, 0) << run.output;
  // fp16 keeps ~3 significant digits of each averaged gradient: after 20 steps
  // the weights differ, but by far less than the weights themselves move.
  test::expect_same_weights(exact.path, half.path, 2e-3);
}

TEST(TrainDataParallel, ALayoutThatDoesNotFitTheWorldIsRejectedUpFront) {
  auto run = test::run_shell(std::string(COHORT_BIN) + " train --quiet --set parallel.data=3", 60);
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_NE(run.output.find("--nproc 3"), std::string::npos) << run.output;
}

}  // namespace
}  // namespace cohort
