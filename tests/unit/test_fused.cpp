// Fused arrays against K separate models: same outputs, same training trajectory.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "cohort/error.h"
#include "cohort/fused.h"
#include "unit/cooperate_models.h"

namespace cohort {
namespace {

using ModelFactory = torch::nn::Sequential (*)(uint64_t);
torch::nn::Sequential fused_mlp(uint64_t seed) { return testing::small_mlp(seed); }
torch::nn::Sequential fused_cnn(uint64_t seed) { return testing::small_cnn(seed); }

std::vector<torch::nn::Sequential> make_models(ModelFactory factory, int k, uint64_t seed0) {
  std::vector<torch::nn::Sequential> models;
  for (int i = 0; i < k; ++i) models.push_back(factory(seed0 + i));
  return models;
}

const char* kernel_name(FusedKernels kernels) {
  return kernels == FusedKernels::kAuto      ? "auto kernels"
         : kernels == FusedKernels::kBatched ? "batched kernels"
                                             : "per-copy kernels";
}

double max_abs_diff(const at::Tensor& a, const at::Tensor& b) {
  return (a - b).abs().max().item<double>();
}

// Grouped convolution and baddbmm accumulate the same products in a different
// order than conv2d and addmm: float32 rounding of sums of ~100 terms of size ~1
// gives differences of a few 1e-7; 1e-5 leaves room without hiding a wrong
// channel or copy (those differ by O(0.1)).
constexpr double kForwardTolerance = 1e-5;

class FusedModel : public ::testing::TestWithParam<ModelFactory> {};

TEST_P(FusedModel, ForwardEqualsEachCopyForSharedAndPerCopyBatches) {
  auto models = make_models(GetParam(), 3, 10);
  FusedArray fused(models);
  torch::NoGradGuard no_grad;
  for (FusedKernels kernels :
       {FusedKernels::kAuto, FusedKernels::kBatched, FusedKernels::kPerCopy}) {
    SCOPED_TRACE(kernel_name(kernels));
    fused->use_kernels(kernels);
    const at::Tensor x = torch::randn({5, 1, 8, 8});
    const at::Tensor out = fused->forward(x);
    ASSERT_EQ(out.sizes(), (std::vector<int64_t>{3, 5, 10}));
    const at::Tensor per_copy = torch::randn({3, 5, 1, 8, 8});
    const at::Tensor out_per_copy = fused->forward(per_copy);
    for (int k = 0; k < 3; ++k) {
      EXPECT_LT(max_abs_diff(out[k], models[k]->forward(x)), kForwardTolerance) << "copy " << k;
      EXPECT_LT(max_abs_diff(out_per_copy[k], models[k]->forward(per_copy[k])), kForwardTolerance);
    }
  }
  EXPECT_THROW(fused->forward(torch::randn({2, 5, 1, 8, 8})), InputError);
}

// An mlp flattens whatever it gets: on feature vectors (CSV, tensor files) its
// samples are rank 1, which the array is told; taken from the flatten it would
// read a batch of vectors as one batch per copy.
TEST(FusedArray, AnMlpOnFeatureVectorsEqualsEachCopy) {
  std::vector<torch::nn::Sequential> models;
  for (int k = 0; k < 3; ++k) {
    torch::manual_seed(40 + k);
    ModelSpec spec;
    spec.name = "mlp";
    spec.widths = {16};
    spec.input_shape = {12};
    models.push_back(build_model(spec));
  }
  FusedArray fused(models, /*sample_rank=*/1);
  torch::NoGradGuard no_grad;
  const at::Tensor x = torch::randn({3, 12}), per_copy = torch::randn({3, 3, 12});
  const at::Tensor out = fused->forward(x), out_per_copy = fused->forward(per_copy);
  ASSERT_EQ(out.sizes(), (std::vector<int64_t>{3, 3, 10}));
  for (int k = 0; k < 3; ++k) {
    EXPECT_LT(max_abs_diff(out[k], models[k]->forward(x)), kForwardTolerance) << "copy " << k;
    EXPECT_LT(max_abs_diff(out_per_copy[k], models[k]->forward(per_copy[k])), kForwardTolerance);
  }
}

TEST_P(FusedModel, SplitReturnsTheWeightsThatWentIn) {
  auto models = make_models(GetParam(), 4, 20);
  FusedArray fused(models);
  auto out = make_models(GetParam(), 4, 90);
  fused->split_into(out);
  for (int k = 0; k < 4; ++k) {
    const auto a = models[k]->parameters(), b = out[k]->parameters();
    for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i], b[i]));
  }
}

void expect_five_steps_equal_three_separate_runs(ModelFactory factory, FusedKernels kernels) {
  const std::vector<double> lrs = {0.1, 0.03, 0.01};
  const FusedSGDOptions sgd{0.9, 0, 1e-4, false};
  auto singles = make_models(factory, 3, 30);
  FusedArray fused(singles);  // fused before the singles move: same starting weights
  fused->use_kernels(kernels);
  std::vector<torch::optim::SGD> optimizers;
  for (int k = 0; k < 3; ++k)
    optimizers.emplace_back(singles[k]->parameters(),
                            torch::optim::SGDOptions(lrs[k]).momentum(0.9).weight_decay(1e-4));
  FusedSGD fused_sgd(fused->parameters(), lrs, sgd);

  torch::manual_seed(99);
  for (int step = 0; step < 5; ++step) {
    const at::Tensor x = torch::randn({16, 1, 8, 8});
    const at::Tensor y = torch::randint(10, {16}, torch::kInt64);
    for (int k = 0; k < 3; ++k) {
      optimizers[k].zero_grad();
      torch::nn::functional::cross_entropy(singles[k]->forward(x), y).backward();
      optimizers[k].step();
    }
    fused_sgd.zero_grad();
    fused_cross_entropy(fused->forward(x), y).sum().backward();
    fused_sgd.step();
  }
  auto trained = make_models(factory, 3, 90);
  fused->split_into(trained);
  double worst = 0, moved = 0;
  auto start = make_models(factory, 3, 30);
  for (int k = 0; k < 3; ++k) {
    const auto a = singles[k]->parameters(), b = trained[k]->parameters(),
               s = start[k]->parameters();
    for (size_t i = 0; i < a.size(); ++i) {
      worst = std::max(worst, max_abs_diff(a[i], b[i]));
      moved = std::max(moved, max_abs_diff(a[i], s[i]));
    }
  }
  // Differences start as forward rounding (~1e-7) and are carried through five
  // momentum steps; 1e-5 is still 1000x below how far the weights moved.
  EXPECT_LT(worst, 1e-5);
  EXPECT_GT(moved, 1e-2);
}

// Every way of computing the copies, whichever the device would choose.
TEST_P(FusedModel, FiveStepsOfTrainingEqualThreeSeparateRuns) {
  for (FusedKernels kernels :
       {FusedKernels::kAuto, FusedKernels::kBatched, FusedKernels::kPerCopy}) {
    SCOPED_TRACE(kernel_name(kernels));
    expect_five_steps_equal_three_separate_runs(GetParam(), kernels);
  }
}

INSTANTIATE_TEST_SUITE_P(MlpAndCnn, FusedModel, ::testing::Values(&fused_mlp, &fused_cnn),
                         [](const auto& info) { return info.index == 0 ? "mlp" : "cnn"; });

class FusedSgdVariant : public ::testing::TestWithParam<FusedSGDOptions> {};

TEST_P(FusedSgdVariant, EqualsTorchSgdPerCopyWithItsOwnLearningRate) {
  const FusedSGDOptions o = GetParam();
  const std::vector<double> lrs = {0.1, 0.05, 0.01};
  torch::manual_seed(4);
  std::vector<at::Tensor> fused = {torch::randn({3, 4, 5}).requires_grad_(),
                                   torch::randn({3, 7}).requires_grad_()};
  FusedSGD fused_sgd(fused, lrs, o);
  std::vector<std::vector<at::Tensor>> singles(3);
  std::vector<std::unique_ptr<torch::optim::SGD>> optimizers;
  for (int k = 0; k < 3; ++k) {
    for (const auto& p : fused) singles[k].push_back(p[k].detach().clone().requires_grad_());
    optimizers.push_back(std::make_unique<torch::optim::SGD>(
        singles[k], torch::optim::SGDOptions(lrs[k])
                        .momentum(o.momentum)
                        .dampening(o.dampening)
                        .weight_decay(o.weight_decay)
                        .nesterov(o.nesterov)));
  }
  for (int step = 0; step < 4; ++step) {
    for (auto& p : fused) p.mutable_grad() = torch::randn_like(p);
    for (int k = 0; k < 3; ++k)
      for (size_t i = 0; i < fused.size(); ++i)
        singles[k][i].mutable_grad() = fused[i].grad()[k].clone();
    fused_sgd.step();
    for (auto& opt : optimizers) opt->step();
  }
  for (int k = 0; k < 3; ++k)
    for (size_t i = 0; i < fused.size(); ++i)
      // The same float32 operations in the same order; at most one rounding apart
      // where the lr multiply and the subtraction fuse differently.
      EXPECT_TRUE(torch::allclose(fused[i][k], singles[k][i], 1e-6, 1e-7))
          << "copy " << k << " parameter " << i << " diff "
          << max_abs_diff(fused[i][k], singles[k][i]);
}

INSTANTIATE_TEST_SUITE_P(Options, FusedSgdVariant,
                         ::testing::Values(FusedSGDOptions{0, 0, 0, false},
                                           FusedSGDOptions{0.9, 0, 1e-3, false},
                                           FusedSGDOptions{0.9, 0.1, 0, false},
                                           FusedSGDOptions{0.8, 0, 1e-2, true}));

TEST(FusedSgd, SetLrChangesOnlyThatCopy) {
  at::Tensor p = torch::zeros({2, 3}).requires_grad_();
  FusedSGD sgd({p}, {1.0, 1.0});
  sgd.set_lr(1, 0.5);
  p.mutable_grad() = torch::ones({2, 3});
  sgd.step();
  EXPECT_TRUE(torch::equal(p[0], torch::full({3}, -1.0)));
  EXPECT_TRUE(torch::equal(p[1], torch::full({3}, -0.5)));
  EXPECT_THROW(FusedSGD({torch::zeros({3, 2})}, {1.0, 1.0}), InputError);
}

TEST(FusedCrossEntropy, IsEachCopysMeanLoss) {
  const at::Tensor logits = torch::randn({2, 6, 4});
  const at::Tensor y = torch::randint(4, {6}, torch::kInt64);
  const at::Tensor per_copy = fused_cross_entropy(logits, y);
  for (int k = 0; k < 2; ++k)
    EXPECT_FLOAT_EQ(per_copy[k].item<float>(),
                    torch::nn::functional::cross_entropy(logits[k], y).item<float>());
  EXPECT_THROW(fused_cross_entropy(logits, torch::zeros({5}, torch::kInt64)), InputError);
}

TEST(FusedArray, RejectsUnsupportedLayersAndMixedArchitectures) {
  namespace nn = torch::nn;
  using Models = std::vector<nn::Sequential>;
  EXPECT_THROW(FusedArray(Models{nn::Sequential(nn::Conv2d(1, 2, 3), nn::BatchNorm2d(2))}),
               InputError);
  EXPECT_THROW(FusedArray(Models{testing::small_mlp(1), testing::small_cnn(2)}), InputError);
  EXPECT_THROW(FusedArray(Models{testing::small_mlp(1), testing::small_mlp(2, 16)}), InputError);
  EXPECT_THROW(FusedArray(std::vector<nn::Sequential>{}), InputError);
}

}  // namespace
}  // namespace cohort
