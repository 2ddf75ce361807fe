#include <gtest/gtest.h>

#include <cmath>

#include "cohort/optim.h"

namespace cohort {
namespace {

TEST(LearningRate, WarmupThenStepDecay) {
  NetworkConfig n;
  n.lr = 0.1;
  n.warmup_steps = 4;
  n.schedule = "step";
  n.step_size = 10;
  n.gamma = 0.5;
  EXPECT_DOUBLE_EQ(learning_rate_at(n, 0, 100), 0.025);
  EXPECT_DOUBLE_EQ(learning_rate_at(n, 3, 100), 0.1);
  EXPECT_DOUBLE_EQ(learning_rate_at(n, 13, 100), 0.1);
  EXPECT_DOUBLE_EQ(learning_rate_at(n, 14, 100), 0.05);
  EXPECT_DOUBLE_EQ(learning_rate_at(n, 34, 100), 0.0125);
}

TEST(LearningRate, CosineEndsAtTheFloor) {
  NetworkConfig n;
  n.lr = 0.2;
  n.min_lr = 0.02;
  n.schedule = "cosine";
  EXPECT_DOUBLE_EQ(learning_rate_at(n, 0, 100), 0.2);
  EXPECT_NEAR(learning_rate_at(n, 50, 100), 0.11, 1e-12);
  EXPECT_NEAR(learning_rate_at(n, 100, 100), 0.02, 1e-12);
}

TEST(Optimizers, AllThreeStepAndClippingBoundsTheNorm) {
  for (const char* name : {"sgd", "adam", "adamw"}) {
    NetworkConfig n;
    n.optimizer = name;
    n.nesterov = std::string(name) == "sgd";
    n.weight_decay = 0.01;
    at::Tensor w = torch::ones({3}, torch::requires_grad());
    auto opt = make_optimizer(n, {w});
    (w * w).sum().mul(100).backward();
    const double before = clip_gradients({w}, 1.0);
    EXPECT_NEAR(before, 200 * std::sqrt(3.0), 1e-3);
    EXPECT_NEAR(w.grad().norm().item<double>(), 1.0, 1e-5);
    opt->step();
    EXPECT_LT(w.sum().item<double>(), 3.0) << name;
  }
}

}  // namespace
}  // namespace cohort
