// Faults injected on purpose (COHORT_INJECT_FAULT, src/train/process/fault_injection.h):
// a rank SIGKILLed at a seeded random step, or in the middle of writing a
// checkpoint. The run restarts from its last complete checkpoint (the launcher's
// --max-restarts for groups, --resume for one process) and must end with
// exactly, bitwise, the weights and optimiser state of a run that was never
// interrupted; no process may be left behind. Deterministic mode (the default)
// and one thread per rank make the uninterrupted run reproducible to the bit.
#include <random>

#include "train_harness.h"

namespace cohort {
// Named, not anonymous: a unity build compiles this file together with others.
namespace fault_injection_test {

using test::TempRunDir;

struct Layout {
  const char* name;
  int nproc;
  std::string args;
};

constexpr int kSteps = 30;

std::string command_for(const Layout& layout, const std::string& out) {
  const std::string common =
      " --set train.max_steps=" + std::to_string(kSteps) +
      " --set train.checkpoint_every_steps=4 --set train.keep_checkpoints=20 ";
  if (std::string(layout.name) == "cohort" || std::string(layout.name) == "population") {
    // Two mlps learning from each other; PBT's population is two mlps too.
    return std::string(COHORT_BIN) + " train " + COHORT_SOURCE_DIR +
           "/examples/configs/mlp.toml --quiet --out " + out +
           " --set train.threads=1 --set train.seed=5 --set network.1.model=mlp" + common +
           layout.args;
  }
  return test::train_mlp(out, common + layout.args);
}

// Every tensor of every network (parameters, buffers, optimiser state) equal to the bit.
void expect_identical_state(const std::string& a_dir, const std::string& b_dir) {
  const TrainingState a = load_checkpoint(latest_checkpoint(a_dir));
  const TrainingState b = load_checkpoint(latest_checkpoint(b_dir));
  EXPECT_EQ(a.step, b.step);
  ASSERT_EQ(a.networks.size(), b.networks.size());
  for (size_t n = 0; n < a.networks.size(); ++n) {
    const auto& ta = a.networks[n].tensors;
    const auto& tb = b.networks[n].tensors;
    ASSERT_EQ(ta.size(), tb.size());
    for (size_t i = 0; i < ta.size(); ++i) {
      ASSERT_EQ(ta[i].first, tb[i].first);
      EXPECT_TRUE(ta[i].second.equal(tb[i].second))
          << a.networks[n].name << " " << ta[i].first << " differs by "
          << (ta[i].second - tb[i].second).abs().max().item<double>();
    }
  }
}

void expect_no_process_left(const std::string& marker) {
  const auto left = test::run_shell("pgrep -f -a '" + marker + "' | grep -v pgrep || true", 10);
  EXPECT_EQ(left.output, "") << "processes left behind";
}

// Kills `rank` at `at` of `step` once, recovers, and compares with `reference`.
void kill_and_recover(const Layout& layout, const std::string& reference, int rank, int64_t step,
                      const char* at) {
  TempRunDir run;
  const std::string fault = "env COHORT_INJECT_FAULT=rank=" + std::to_string(rank) +
                            ",step=" + std::to_string(step) + ",at=" + at + ",once=" + run.parent +
                            "/fired ";
  SCOPED_TRACE(std::string(layout.name) + ": rank " + std::to_string(rank) + " killed at " + at +
               " " + std::to_string(step));
  if (layout.nproc > 1) {
    // The launcher restarts the whole group, which resumes from the newest checkpoint.
    auto r = test::run_shell(fault + command_for(layout, run.path) + " --max-restarts 1", 300);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("restarting all"), std::string::npos) << r.output;
  } else {
    auto first = test::run_shell(fault + command_for(layout, run.path), 300);
    ASSERT_NE(first.exit_code, 0) << "the fault did not fire\n" << first.output;
    ASSERT_NO_FATAL_FAILURE(
        test::train_ok(std::string(COHORT_BIN) + " train --quiet --resume " + run.path));
  }
  EXPECT_TRUE(std::filesystem::exists(run.parent + "/fired"));
  expect_identical_state(reference, run.path);
  expect_no_process_left(run.parent);
}

class FaultInjection : public ::testing::TestWithParam<Layout> {};

TEST_P(FaultInjection, KilledAtRandomStepsResumesBitwise) {
  const Layout layout = GetParam();
  TempRunDir reference;
  ASSERT_NO_FATAL_FAILURE(test::train_ok(command_for(layout, reference.path)));
  std::mt19937 rng(2026);  // seeded: a failure names a trial that can be rerun
  for (int trial = 0; trial < 2; ++trial) {
    const int rank = std::uniform_int_distribution<int>(0, layout.nproc - 1)(rng);
    const int64_t step = std::uniform_int_distribution<int64_t>(1, kSteps - 2)(rng);
    kill_and_recover(layout, reference.path, rank, step, "step");
  }
}

// Between state.pt and the manifest: the half-written folder must never be
// taken for a checkpoint, and the previous one must still be whole.
TEST_P(FaultInjection, KilledWhileWritingACheckpointLosesNothing) {
  const Layout layout = GetParam();
  TempRunDir reference;
  ASSERT_NO_FATAL_FAILURE(test::train_ok(command_for(layout, reference.path)));
  kill_and_recover(layout, reference.path, 0, 12, "checkpoint");
}

INSTANTIATE_TEST_SUITE_P(
    Layouts, FaultInjection,
    ::testing::Values(
        Layout{"single", 1, ""}, Layout{"data_parallel", 2, "--nproc 2 --set parallel.data=2"},
        Layout{"pipeline", 2, "--nproc 2 --set parallel.pipeline=2 --set parallel.micro_batches=2"},
        Layout{"cohort", 1, "--set cooperate.method=mutual"},
        // PBT: exploit and explore every 7 steps, so a resume must
        // restore copied weights and perturbed hyperparameters.
        Layout{"population", 1, "--set cooperate.method=pbt --set cooperate.pbt_interval=7"}),
    [](const auto& info) { return std::string(info.param.name); });

}  // namespace fault_injection_test
}  // namespace cohort
