// `cohort train` with cooperate.fused = true: K copies of one architecture
// trained as one batched model must follow, copy by copy, the trajectories of
// the same networks trained one at a time, end to end through the CLI.
#include <fmt/format.h>

#include "train_harness.h"

namespace cohort {
// Named, not anonymous: a unity build compiles this file together with others.
namespace train_fused_test {

using test::TempRunDir;

struct Copy {
  double lr;
  double grad_clip;
};
// Different learning rates, and one copy that clips, so a mix-up between copies
// or a clip applied to the wrong one shows.
const std::vector<Copy> kCopies = {{0.02, 0}, {0.05, 0.5}, {0.1, 0}};
constexpr int kSteps = 20;

// Copy k as network `index` of a run (k itself in the fused run, 0 alone).
std::string network_args(size_t index, size_t k) {
  return fmt::format(
      " --set network.{0}.model=mlp --set 'network.{0}.widths=[64, 32]' --set network.{0}.lr={1}"
      " --set network.{0}.grad_clip={2} --set network.{0}.seed={3}",
      index, kCopies[k].lr, kCopies[k].grad_clip, 5 + k);
}

std::string fused_command(const std::string& out, const std::string& extra) {
  std::string args = "--set cooperate.fused=true";
  for (size_t k = 0; k < kCopies.size(); ++k) args += network_args(k, k);
  return test::train_mlp(out, args + " " + extra);
}

// Every tensor (weights, momentum) of network `a_index` in a's newest checkpoint
// against network `b_index` in b's.
void expect_same_network(const std::string& a_dir, size_t a_index, const std::string& b_dir,
                         size_t b_index, double atol) {
  const auto a = load_checkpoint(latest_checkpoint(a_dir)).networks.at(a_index).tensors;
  const auto b = load_checkpoint(latest_checkpoint(b_dir)).networks.at(b_index).tensors;
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(a[i].first, b[i].first);
    const double diff = (a[i].second - b[i].second).abs().max().item<double>();
    EXPECT_LE(diff, atol) << "network " << a_index << " " << a[i].first;
  }
}

// The fused forward runs one batched product (baddbmm) where a single network
// runs addmm, so sums are taken in another order: float32 rounding, ~1e-7
// relative per step, while a copy given another copy's learning rate or clip
// differs by more than 1e-3 after one step. The comparison stops at 5 steps:
// rounding alone can flip a ReLU whose input is within it of zero, and one such
// flip changes that step's gradient by O(lr / batch). On this data copy 2 (lr
// 0.1) meets one at step 6, and does so trained alone with 1 thread against 2
// threads (weights 4e-8 apart after 5 steps, 9e-3 after 6): a property of the
// trajectory, not of fusing. After 5 steps the copies agree within 1e-7.
constexpr int kSmoothSteps = 5;
TEST(TrainFused, ArrayOfThreeEqualsThreeSeparateRuns) {
  TempRunDir fused;
  const std::string steps = fmt::format("--set train.max_steps={}", kSmoothSteps);
  test::train_ok(fused_command(fused.path, steps));
  for (size_t k = 0; k < kCopies.size(); ++k) {
    SCOPED_TRACE(fmt::format("copy {}", k));
    TempRunDir alone;
    test::train_ok(test::train_mlp(alone.path, steps + network_args(0, k)));
    expect_same_network(fused.path, k, alone.path, 0, 1e-5);
  }
}

// The checkpoint holds the K networks, not the fused array: resuming rebuilds
// the array with its momentum and continues exactly.
TEST(TrainFused, ResumesExactlyFromItsCheckpoint) {
  TempRunDir straight, resumed;
  test::train_ok(fused_command(straight.path, fmt::format("--set train.max_steps={}", kSteps)));
  test::train_ok(fused_command(resumed.path, fmt::format("--set train.max_steps={}", kSteps / 2)));
  test::train_ok(fmt::format("{} train --resume {} --quiet --set train.max_steps={}", COHORT_BIN,
                             resumed.path, kSteps));
  for (size_t k = 0; k < kCopies.size(); ++k)
    expect_same_network(straight.path, k, resumed.path, k, 0);
}

// Two ranks holding the fused array as one DDP model equal one process with the
// double batch (as TrainDataParallel, and with the same tolerance).
TEST(TrainFused, DataParallelArrayEqualsOneProcessWithTheDoubleBatch) {
  TempRunDir single, dp;
  const std::string steps = fmt::format("--set train.max_steps={} ", kSteps);
  test::train_ok(fused_command(single.path, steps + "--set train.batch_size=32"));
  test::train_ok(
      fused_command(dp.path, steps + "--nproc 2 --set parallel.data=2 --set train.batch_size=16"));
  for (size_t k = 0; k < kCopies.size(); ++k) expect_same_network(single.path, k, dp.path, k, 1e-5);
}

TEST(TrainFused, WhatCannotBeFusedIsRefusedWithTheReason) {
  auto refused = [](const std::string& args, const std::string& hint) {
    const auto run = test::run_shell(fused_command("/nonexistent/never-made", args), 60);
    EXPECT_EQ(run.exit_code, 2) << run.output;
    EXPECT_NE(run.output.find(hint), std::string::npos) << run.output;
  };
  refused("--set cooperate.method=codistill", "use none, ensemble or mutual");
  refused("--set 'network.1.widths=[32]'", "one architecture");
  refused("--set network.2.optimizer=adam", "set it to sgd");
  refused("--set network.1.momentum=0.5", "only lr, its schedule, grad_clip and seed");
}

}  // namespace train_fused_test
}  // namespace cohort
