// Regression (data.task = "regression"): its loss, its distillation towards the
// peers' predictions, its readers' targets, its evaluation and ensemble, and the
// summary a person reads. The trainer end to end: tests/scripts/regression.sh.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/nn/modules/linear.h>
#include <torch/serialize.h>

#include <cmath>

#include "cohort/data.h"
#include "cohort/error.h"
#include "cohort/evaluate.h"
#include "cohort/mutual_loss.h"
#include "cohort/task.h"
#include "cohort/trainer.h"

namespace cohort {
namespace {

std::vector<char> saved(const at::Tensor& inputs, const at::Tensor& targets) {
  c10::Dict<std::string, at::Tensor> dict;
  dict.insert("inputs", inputs);
  dict.insert("targets", targets);
  return torch::pickle_save(dict);
}

TEST(Task, RegressionLossIsTorchsMeanSquaredErrorOfMatchingShapes) {
  const at::Tensor out = at::randn({5, 2}), y = at::randn({5, 2});
  EXPECT_NEAR(task_loss(Task::Regression, out, y).item<double>(),
              (out - y).pow(2).mean().item<double>(), 1e-6);
  // B x 1 against B would broadcast to B x B: refused instead.
  EXPECT_THROW(task_loss(Task::Regression, at::randn({5, 1}), at::randn({5})), InputError);
  EXPECT_EQ(correct_predictions(Task::Regression, out, y), 0);
  EXPECT_EQ(parse_task("regression"), Task::Regression);
  EXPECT_THROW(parse_task("ranking"), InputError);
}

TEST(Task, RegressionDistilsTowardsThePeersPredictionsWithoutTeachingThem) {
  const at::Tensor y = at::randn({6, 2});
  const at::Tensor mine = at::randn({6, 2}).requires_grad_(true);
  const at::Tensor peer1 = at::randn({6, 2}).requires_grad_(true), peer2 = at::randn({6, 2});
  MutualLossOptions options;
  options.alpha = 0.5;
  options.temperature = 3;  // no part in regression
  options.task = Task::Regression;
  const MutualLoss loss = mutual_loss(mine, y, {peer1, peer2}, options);
  const double own = (mine - y).pow(2).mean().item<double>();
  const double towards =
      ((mine - peer1).pow(2).mean() + (mine - peer2).pow(2).mean()).item<double>() / 2;
  EXPECT_NEAR(loss.cross_entropy.item<double>(), own, 1e-6);
  EXPECT_NEAR(loss.distillation.item<double>(), towards, 1e-6);
  EXPECT_NEAR(loss.total.item<double>(), own + 0.5 * towards, 1e-5);
  loss.total.backward();
  EXPECT_TRUE(mine.grad().defined());
  EXPECT_FALSE(peer1.grad().defined());
  EXPECT_THROW(mutual_loss(mine, at::randn({6}), {}, options), InputError);
}

TEST(Task, TensorFileRegressionTargetsAreSamplesByTargets) {
  const at::Tensor x = at::rand({4, 3});
  const auto one = parse_tensor_dataset(saved(x, at::tensor({0.5, -1.0, 2.0, 3.0})), "d.pt", 0,
                                        Task::Regression);
  EXPECT_EQ(one->spec().task, Task::Regression);
  EXPECT_EQ(one->spec().outputs, 1);
  EXPECT_TRUE(at::allclose(one->targets(), at::tensor({0.5f, -1.f, 2.f, 3.f}).view({4, 1})));
  const auto two = parse_tensor_dataset(saved(x, at::randn({4, 2})), "d.pt", 0, Task::Regression);
  EXPECT_EQ(two->spec().outputs, 2);
  const auto counts =
      parse_tensor_dataset(saved(x, at::tensor({1, 2, 3, 4})), "d.pt", 0, Task::Regression);
  EXPECT_EQ(counts->targets().scalar_type(), at::kFloat);
  // A test split must predict what the training split does.
  EXPECT_THROW(parse_tensor_dataset(saved(x, at::randn({4, 3})), "t.pt", 2, Task::Regression),
               InputError);
  EXPECT_THROW(
      parse_tensor_dataset(saved(x, at::tensor({0.0, NAN, 1.0, 2.0})), "d.pt", 0, Task::Regression),
      InputError);
}

TEST(Task, CsvRegressionKeepsTheTargetColumnAsWritten) {
  const CsvTable t = parse_csv("a,y\n1,0.25\n2,-7.5\n", "t.csv", "y", Task::Regression);
  EXPECT_TRUE(at::allclose(t.targets, at::tensor({0.25f, -7.5f}).view({2, 1})));
  try {
    parse_csv("a,y\n1,0.25\n", "t.csv", "y");
    FAIL() << "a real value taken for a class";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("set data.task = 'regression'"), std::string::npos);
  }
}

TEST(Task, EvaluationIsTheMeanSquaredErrorAndTheEnsembleAveragesPredictions) {
  const at::Tensor x = at::randn({10, 3}), y = at::randn({10, 2});
  const TensorDataset data(x, y, Task::Regression, 2);
  std::vector<torch::nn::Sequential> models;
  std::vector<at::Tensor> predictions;
  for (int k = 0; k < 2; ++k) {
    models.push_back(torch::nn::Sequential(torch::nn::Linear(3, 2)));
    at::NoGradGuard no_grad;
    predictions.push_back(models.back()->forward(x));
  }
  at::Tensor returned;
  const Evaluation one = evaluate(models[0], data, &returned, /*chunk=*/3);
  EXPECT_NEAR(one.loss, (predictions[0] - y).pow(2).mean().item<double>(), 1e-5);
  EXPECT_TRUE(at::allclose(returned, predictions[0]));
  const CohortEvaluation all = evaluate_cohort(models, {true, true}, data);
  ASSERT_TRUE(all.ensemble.has_value());
  const at::Tensor mean = (predictions[0] + predictions[1]) / 2;
  EXPECT_NEAR(all.ensemble->loss, (mean - y).pow(2).mean().item<double>(), 1e-5);
  EXPECT_FALSE(evaluate_cohort(models, {true, false}, data).ensemble.has_value());
}

TEST(Task, TheSummaryOfARegressionSpeaksOfErrorsWhereLowerIsBetter) {
  RunSummary s;
  s.task = Task::Regression;
  s.networks = {{"a", "mlp", 0, 0.50}, {"b", "mlp", 0, 0.40}, {"alone", "mlp", 0, 0.80, true}};
  s.ensemble = NetworkResult{"ensemble", "ensemble", 0, 0.36};
  const std::string text = s.describe();
  EXPECT_NE(text.find("test mean squared error 0.4"), std::string::npos) << text;
  // The best network is the one of least error: b. Against it the ensemble has 10% less.
  EXPECT_NE(text.find("10.0% less error against the best network, b"), std::string::npos) << text;
  EXPECT_NE(text.find("best network 50.0% less error, ensemble 55.0% less error"),
            std::string::npos)
      << text;
  const std::string json = s.to_json();
  EXPECT_EQ(json.find("test_accuracy"), std::string::npos) << json;
  EXPECT_NE(json.find("\"task\":\"regression\""), std::string::npos) << json;
}

}  // namespace
}  // namespace cohort
