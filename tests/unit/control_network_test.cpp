// Control networks (network.N.cooperate = false): trained beside the cohort on
// the same batches, exactly as if trained alone, and kept out of the cohort's
// method and ensemble.
#include <gtest/gtest.h>

#include <filesystem>

#include "cohort/checkpoint.h"
#include "cohort/config.h"
#include "cohort/error.h"
#include "cohort/models.h"
#include "cohort/mutual_loss.h"
#include "cohort/trainer.h"
#include "test_files.h"
#include "test_paths.h"
#include "train/cohort/objective.h"

namespace cohort {
namespace {

using testing::TempDir;

Config mlp_config(std::vector<std::string> extra) {
  std::vector<std::string> o = {"network.0.widths=[32]", "train.max_steps=30", "train.threads=1",
                                "train.batch_size=32", "train.seed=3"};
  o.insert(o.end(), extra.begin(), extra.end());
  return load_config(COHORT_SOURCE_DIR "/examples/configs/mlp.toml", o);
}

TEST(ControlNetwork, TakesPlainCrossEntropyAndIsNoOnesPeer) {
  torch::manual_seed(0);
  const at::Tensor targets = at::randint(10, {8}, at::kLong);
  const std::vector<at::Tensor> logits = {at::randn({8, 10}), at::randn({8, 10}),
                                          at::randn({8, 10})};
  std::vector<torch::nn::Sequential> models(3, build_model(ModelSpec{"mlp"}));
  CooperateConfig mutual;
  mutual.method = "mutual";
  Objective objective(mutual, Task::Classification, models, {true, true, false});
  const auto losses = objective.losses(0, at::Tensor(), logits, targets);
  const MutualLossOptions options{mutual.alpha, mutual.temperature};
  EXPECT_TRUE(at::allclose(losses[0], mutual_loss(logits[0], targets, {logits[1]}, options).total));
  EXPECT_TRUE(at::allclose(losses[1], mutual_loss(logits[1], targets, {logits[0]}, options).total));
  EXPECT_TRUE(at::allclose(losses[2], at::cross_entropy_loss(logits[2], targets)));
}

// The control beside a mutual-learning cohort ends bitwise where the same
// network trained alone ends: same seed, same batches, nothing from the peers.
TEST(ControlNetwork, EndsBitwiseWhereTrainingAloneEnds) {
  TempDir cohort_run, alone_run;
  const RunSummary s =
      train(mlp_config({"network.1.model=mlp", "network.1.widths=[16]", "network.2.model=mlp",
                        "network.2.widths=[32]", "network.2.seed=7", "network.2.cooperate=false",
                        "network.2.name=control", "cooperate.method=mutual"}),
            RunOptions{cohort_run.path(), false, false});
  train(mlp_config({"network.0.seed=7"}), RunOptions{alone_run.path(), false, false});
  ASSERT_EQ(s.networks.size(), 3u);
  EXPECT_FALSE(s.networks[0].control);
  EXPECT_TRUE(s.networks[2].control);
  const auto control = load_checkpoint(cohort_run.path()).networks.at(2).tensors;
  const auto alone = load_checkpoint(alone_run.path()).networks.at(0).tensors;
  ASSERT_EQ(control.size(), alone.size());
  for (size_t i = 0; i < control.size(); ++i)
    EXPECT_TRUE(at::equal(control[i].second, alone[i].second)) << control[i].first;
  const std::string text = s.describe();
  EXPECT_NE(text.find("control: trained alone on the same batches"), std::string::npos) << text;
  EXPECT_NE(text.find("cooperation against training alone (control)"), std::string::npos) << text;
}

TEST(ControlNetwork, ACohortNeedsTwoCooperatingNetworksAndPbtNone) {
  const Config lone =
      mlp_config({"network.1.model=mlp", "network.1.cooperate=false", "cooperate.method=mutual"});
  EXPECT_THROW(check_training_plan(lone, 1), InputError);
  const Config pbt = mlp_config({"network.1.model=mlp", "network.2.model=mlp",
                                 "network.2.cooperate=false", "cooperate.method=pbt"});
  EXPECT_THROW(check_training_plan(pbt, 1), InputError);
  const Config fine = mlp_config({"network.1.model=mlp", "network.2.model=mlp",
                                  "network.2.cooperate=false", "cooperate.method=codistill"});
  EXPECT_NO_THROW(check_training_plan(fine, 1));
}

TEST(ControlNetwork, TheKeyRoundTripsThroughTheSavedConfig) {
  const Config c = mlp_config({"network.1.model=mlp", "network.1.cooperate=false"});
  EXPECT_FALSE(parse_config_text(to_toml(c), "saved", {}).networks.at(1).cooperate);
  EXPECT_TRUE(parse_config_text(to_toml(c), "saved", {}).networks.at(0).cooperate);
}

}  // namespace
}  // namespace cohort
