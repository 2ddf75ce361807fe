// Ensemble accuracy and NLL against a direct computation of averaged probabilities.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "cohort/ensemble.h"
#include "cohort/error.h"
#include "unit/cooperate_models.h"

namespace cohort {
namespace {

TEST(Ensemble, MetricsMatchAveragedSoftmaxComputedDirectly) {
  torch::manual_seed(5);
  const int64_t batch = 50, classes = 4;
  std::vector<at::Tensor> logits;
  for (int k = 0; k < 3; ++k) logits.push_back(3 * torch::randn({batch, classes}, torch::kFloat64));
  const at::Tensor y = torch::randint(classes, {batch}, torch::kInt64);

  const at::Tensor probs = (torch::softmax(logits[0], 1) + torch::softmax(logits[1], 1) +
                            torch::softmax(logits[2], 1)) / 3;
  int64_t correct = 0;
  double nll = 0;
  for (int64_t b = 0; b < batch; ++b) {
    const int64_t label = y[b].item<int64_t>();
    correct += probs[b].argmax().item<int64_t>() == label;
    nll -= std::log(probs[b][label].item<double>());
  }
  const EnsembleMetrics m = ensemble_metrics(logits, y);
  EXPECT_EQ(m.samples, batch);
  EXPECT_EQ(m.correct, correct);
  EXPECT_NEAR(m.nll(), nll / batch, 1e-12);
  EXPECT_TRUE(torch::allclose(ensemble_log_probabilities(logits).exp(), probs, 1e-12, 1e-12));
}

TEST(Ensemble, AveragesProbabilitiesNotLogits) {
  // Two members mildly for class 0, one very sure of class 1. Averaged probabilities
  // (0.635, 0.365) pick class 0; averaged logits (2, 6.7) would pick class 1.
  const at::Tensor mild = torch::tensor({{3.0, 0.0}}, torch::kFloat64);
  const at::Tensor sure = torch::tensor({{0.0, 20.0}}, torch::kFloat64);
  const at::Tensor y = torch::tensor({0}, torch::kInt64);
  const EnsembleMetrics m = ensemble_metrics({mild, mild, sure}, y);
  EXPECT_EQ(m.correct, 1);
  const double p_true = (2 * torch::softmax(mild, 1)[0][0] + torch::softmax(sure, 1)[0][0])
                            .item<double>() / 3;
  EXPECT_NEAR(m.nll(), -std::log(p_true), 1e-12);
}

TEST(Ensemble, EvaluatesModelsInBatchesLikeOneBigBatch) {
  std::vector<torch::nn::Sequential> members = {testing::small_mlp(1), testing::small_mlp(2)};
  members[1]->eval();
  const at::Tensor x = torch::randn({23, 1, 8, 8});
  const at::Tensor y = torch::randint(10, {23}, torch::kInt64);
  const EnsembleMetrics batched = evaluate_ensemble(members, x, y, 5);
  torch::NoGradGuard no_grad;
  const EnsembleMetrics whole = ensemble_metrics({members[0]->forward(x), members[1]->forward(x)}, y);
  EXPECT_EQ(batched.samples, 23);
  EXPECT_EQ(batched.correct, whole.correct);
  EXPECT_NEAR(batched.nll(), whole.nll(), 1e-6);  // float32 logits, sums in another order
  EXPECT_TRUE(members[0]->is_training());          // modes restored
  EXPECT_FALSE(members[1]->is_training());
  EXPECT_THROW(ensemble_metrics({}, y), InputError);
}

}  // namespace
}  // namespace cohort
