// Real training on Fashion-MNIST, kept to a few dozen steps of a narrow mlp.
#include <gtest/gtest.h>

#include <filesystem>

#include "cohort/checkpoint.h"
#include "cohort/config.h"
#include "cohort/trainer.h"
#include "test_files.h"
#include "test_paths.h"

namespace cohort {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

Config small_config(std::vector<std::string> extra = {}) {
  std::vector<std::string> o = {"network.0.model=mlp", "network.0.widths=[32]",
                                "train.max_steps=30", "train.threads=1", "train.log_every=10",
                                "train.batch_size=32", "train.seed=3"};
  o.insert(o.end(), extra.begin(), extra.end());
  return load_config(COHORT_SOURCE_DIR "/examples/configs/mlp.toml", o);
}

RunSummary run(const Config& c, const std::string& dir, bool resume = false) {
  return train(c, RunOptions{dir, resume, false});
}

NamedTensors final_weights(const std::string& dir) {
  return load_checkpoint(dir).networks.at(0).tensors;
}

void expect_bitwise_equal(const NamedTensors& a, const NamedTensors& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].first, b[i].first);
    EXPECT_TRUE(torch::equal(a[i].second, b[i].second)) << a[i].first;
  }
}

TEST(Trainer, SameSeedSameThreadsGivesBitwiseEqualWeights) {
  TempDir a, b;
  const Config c = small_config();
  const RunSummary s = run(c, a.path());
  run(c, b.path());
  EXPECT_EQ(s.steps, 30);
  EXPECT_GT(s.networks.at(0).test_accuracy, 0.5);  // 30 steps already beat chance (0.1) by far
  expect_bitwise_equal(final_weights(a.path()), final_weights(b.path()));
}

TEST(Trainer, ResumeAfterACrashContinuesBitwiseExactly) {
  TempDir whole, crashed;
  const Config c = small_config({"train.checkpoint_every_steps=12", "train.keep_checkpoints=5",
                                 "network.0.schedule=cosine", "network.0.warmup_steps=5",
                                 "network.0.optimizer=adamw"});
  run(c, whole.path());
  run(c, crashed.path());
  // Pretend the run died at step ~20: only the step-12 checkpoint survived.
  for (const auto& e : fs::directory_iterator(crashed.path() + "/checkpoints")) {
    if (e.path().filename() != "step-00000012") fs::remove_all(e.path());
  }
  const RunSummary resumed = run(c, crashed.path(), true);
  EXPECT_EQ(resumed.steps, 30);
  expect_bitwise_equal(final_weights(whole.path()), final_weights(crashed.path()));
}

// The checkpoint holds the networks, not codistillation's stale copies: a run
// resumed between two exchanges refreshes them at its first step and goes on.
TEST(Trainer, CodistillationResumedBetweenExchangesContinues) {
  TempDir dir;
  const Config c = small_config({"network.1.model=mlp", "network.1.widths=[16]",
                                 "cooperate.method=codistill", "cooperate.exchange_every=10",
                                 "train.checkpoint_every_steps=13", "train.keep_checkpoints=5"});
  run(c, dir.path());
  for (const auto& e : fs::directory_iterator(dir.path() + "/checkpoints")) {
    if (e.path().filename() != "step-00000013") fs::remove_all(e.path());
  }
  const RunSummary resumed = run(c, dir.path(), true);
  EXPECT_EQ(resumed.steps, 30);
  ASSERT_EQ(resumed.networks.size(), 2u);
  EXPECT_GT(resumed.networks[1].test_accuracy, 0.5);
}

TEST(Trainer, SeveralNetworksAreEvaluatedWithTheirEnsemble) {
  TempDir dir;
  const RunSummary s = run(small_config({"network.1.model=mlp", "network.1.widths=[16]",
                                         "cooperate.method=mutual"}), dir.path());
  ASSERT_EQ(s.networks.size(), 2u);
  ASSERT_TRUE(s.ensemble.has_value());
  EXPECT_GT(s.ensemble->test_accuracy, 0.5);
  EXPECT_TRUE(fs::exists(dir.path() + "/metrics.jsonl"));
  EXPECT_TRUE(fs::exists(dir.path() + "/summary.json"));
}

}  // namespace
}  // namespace cohort
