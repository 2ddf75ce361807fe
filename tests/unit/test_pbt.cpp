// Population based training: the pure exploit/explore decision and the exact copy
// of a member's model and optimizer state.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <set>

#include "cohort/error.h"
#include "cohort/network_state.h"
#include "cohort/pbt.h"
#include "unit/cooperate_models.h"

namespace cohort {
namespace {

std::vector<Hyperparameters> population_hps(int n) {
  std::vector<Hyperparameters> hps;
  for (int m = 0; m < n; ++m) hps.push_back({{"lr", 0.01 * (m + 1)}, {"momentum", 0.9}});
  return hps;
}

TEST(PbtDecide, BottomQuarterCopiesFromTopQuarterWithPerturbedHyperparameters) {
  // Scores of 8 members: bottom two are members 5 (0.1) and 2 (0.2), top two 0 and 7.
  const std::vector<double> scores = {0.9, 0.5, 0.2, 0.6, 0.4, 0.1, 0.55, 0.95};
  const auto hps = population_hps(8);
  PbtOptions options;
  options.seed = 42;
  const auto decisions = pbt_decide(100, scores, std::vector<bool>(8, true), hps, options);
  ASSERT_EQ(decisions.size(), 2u);
  EXPECT_EQ(decisions[0].member, 2);
  EXPECT_EQ(decisions[1].member, 5);
  for (const PbtDecision& d : decisions) {
    EXPECT_EQ(d.step, 100);
    EXPECT_TRUE(d.parent == 0 || d.parent == 7) << d.parent;
    EXPECT_EQ(d.member_score, scores[d.member]);
    EXPECT_EQ(d.parent_score, scores[d.parent]);
    EXPECT_EQ(d.old_hyperparameters, hps[d.member]);
    ASSERT_EQ(d.new_hyperparameters.size(), 2u);
    for (const auto& [name, value] : d.new_hyperparameters) {
      const double base = hps[d.parent].at(name);
      EXPECT_TRUE(value == base * 0.8 || value == base * 1.2) << name << " " << value;
    }
  }
}

TEST(PbtDecide, IsAFunctionOfSeedStepAndInputsOnly) {
  const std::vector<double> scores = {0.3, 0.9, 0.1, 0.8, 0.2, 0.7, 0.4, 0.6, 0.5, 0.05, 0.95, 0.0};
  const auto hps = population_hps(12);
  const std::vector<bool> ready(12, true);
  PbtOptions options;
  options.seed = 7;
  auto key = [](const std::vector<PbtDecision>& ds) {
    std::string s;
    for (const auto& d : ds) s += to_json(d);
    return s;
  };
  const auto first = pbt_decide(5, scores, ready, hps, options);
  EXPECT_EQ(key(first), key(pbt_decide(5, scores, ready, hps, options)));
  // Over many steps and seeds every top member gets chosen and both factors appear:
  // the draw is not stuck on one value.
  std::set<int> parents;
  std::set<double> lrs;
  for (int64_t step = 0; step < 200; ++step) {
    options.seed = static_cast<uint64_t>(step % 3);
    for (const auto& d : pbt_decide(step, scores, ready, hps, options)) {
      parents.insert(d.parent);
      lrs.insert(d.new_hyperparameters.at("lr") / hps[d.parent].at("lr"));
    }
  }
  EXPECT_EQ(parents, (std::set<int>{10, 1, 3}));  // top quarter of 12
  EXPECT_EQ(lrs.size(), 2u);
}

TEST(PbtDecide, OnlyReadyMembersAreReplacedAndNaNRanksLast) {
  const std::vector<double> scores = {0.5, std::nan(""), 0.9, 0.1};
  const auto hps = population_hps(4);
  PbtOptions options;
  auto ds = pbt_decide(1, scores, {true, true, true, true}, hps, options);
  ASSERT_EQ(ds.size(), 1u);
  EXPECT_EQ(ds[0].member, 1);  // the diverged member, not the 0.1 one
  EXPECT_EQ(ds[0].parent, 2);
  EXPECT_TRUE(pbt_decide(1, scores, {true, false, true, true}, hps, options).empty());
  EXPECT_TRUE(pbt_decide(1, {0.5}, {true}, population_hps(1), options).empty());
}

TEST(PbtDecide, BoundsClampAndBadInputsAreRejected) {
  PbtOptions options;
  options.perturb_factors = {10.0};
  options.bounds["lr"] = {0.0, 0.05};
  const auto ds = pbt_decide(0, {1.0, 0.0}, {true, true}, population_hps(2), options);
  ASSERT_EQ(ds.size(), 1u);
  EXPECT_EQ(ds[0].new_hyperparameters.at("lr"), 0.05);
  EXPECT_EQ(ds[0].new_hyperparameters.at("momentum"), 9.0);  // unbounded
  EXPECT_THROW(pbt_decide(0, {1.0, 0.0}, {true}, population_hps(2), options), InputError);
  options.fraction = 0.7;
  EXPECT_THROW(pbt_decide(0, {1.0, 0.0}, {true, true}, population_hps(2), options), InputError);
}

TEST(PbtLineage, RoundTripsThroughJsonIncludingNaNScores) {
  PbtDecision d;
  d.step = 300;
  d.member = 3;
  d.parent = 1;
  d.member_score = std::nan("");
  d.parent_score = 0.875;
  d.old_hyperparameters = {{"lr", 0.1}};
  d.new_hyperparameters = {{"lr", 0.08000000000000002}};
  const std::string line = to_json(d);
  EXPECT_EQ(line.find('\n'), std::string::npos);
  const PbtDecision back = pbt_decision_from_json(line);
  EXPECT_EQ(back.step, 300);
  EXPECT_EQ(back.member, 3);
  EXPECT_EQ(back.parent, 1);
  EXPECT_TRUE(std::isnan(back.member_score));
  EXPECT_EQ(back.parent_score, 0.875);
  EXPECT_EQ(back.old_hyperparameters, d.old_hyperparameters);
  EXPECT_EQ(back.new_hyperparameters, d.new_hyperparameters);  // exact doubles
  EXPECT_THROW(pbt_decision_from_json("{\"step\": 1}"), InputError);
  EXPECT_THROW(pbt_decision_from_json("not json"), InputError);
}

// A few SGD/Adam steps on random data so that the optimizer has real state.
void train(torch::nn::Sequential& model, torch::optim::Optimizer& optimizer, uint64_t seed,
           int steps) {
  torch::manual_seed(seed);
  for (int s = 0; s < steps; ++s) {
    optimizer.zero_grad();
    const at::Tensor x = torch::randn({8, 1, 8, 8});
    const at::Tensor y = torch::randint(10, {8}, torch::kInt64);
    torch::nn::functional::cross_entropy(model->forward(x), y).backward();
    optimizer.step();
  }
}

void expect_state_equal(const torch::optim::Optimizer& a, const torch::optim::Optimizer& b,
                        const torch::nn::Module& ma, const torch::nn::Module& mb, int& compared) {
  const auto pa = ma.parameters(), pb = mb.parameters();
  for (size_t i = 0; i < pa.size(); ++i) {
    EXPECT_TRUE(torch::equal(pa[i], pb[i])) << "parameter " << i;
    EXPECT_NE(pa[i].data_ptr(), pb[i].data_ptr()) << "parameter " << i << " shares storage";
    const auto* sa = cohort::param_state(a, pa[i]);
    const auto* sb = cohort::param_state(b, pb[i]);
    ASSERT_TRUE(sa && sb) << "parameter " << i << " has no optimiser state";
    if (auto* sgd = dynamic_cast<const torch::optim::SGDParamState*>(sa)) {
      auto& other = static_cast<const torch::optim::SGDParamState&>(*sb);
      EXPECT_TRUE(torch::equal(sgd->momentum_buffer(), other.momentum_buffer()));
      EXPECT_NE(sgd->momentum_buffer().data_ptr(), other.momentum_buffer().data_ptr());
      ++compared;
    } else {
      auto& adam = dynamic_cast<const torch::optim::AdamParamState&>(*sa);
      auto& other = dynamic_cast<const torch::optim::AdamParamState&>(*sb);
      EXPECT_EQ(adam.step(), other.step());
      EXPECT_TRUE(torch::equal(adam.exp_avg(), other.exp_avg()));
      EXPECT_TRUE(torch::equal(adam.exp_avg_sq(), other.exp_avg_sq()));
      ++compared;
    }
  }
  const auto ba = ma.buffers(), bb = mb.buffers();
  for (size_t i = 0; i < ba.size(); ++i) EXPECT_TRUE(torch::equal(ba[i], bb[i]));
}

TEST(PbtExploit, CopiesModelAndSgdMomentumBitwiseAndTrainingStaysIdentical) {
  auto a = testing::small_cnn(1), b = testing::small_cnn(2);
  torch::optim::SGD opt_a(a->parameters(), torch::optim::SGDOptions(0.05).momentum(0.9));
  torch::optim::SGD opt_b(b->parameters(), torch::optim::SGDOptions(0.01).momentum(0.5));
  train(a, opt_a, 1, 3);
  train(b, opt_b, 2, 2);
  exploit(*a, opt_a, *b, opt_b);
  int compared = 0;
  expect_state_equal(opt_a, opt_b, *a, *b, compared);
  EXPECT_EQ(compared, static_cast<int>(a->parameters().size()));
  EXPECT_EQ(static_cast<const torch::optim::SGDOptions&>(opt_b.param_groups()[0].options()).momentum(), 0.9);
  // Same data from here on: the copy must follow the parent bit for bit, which only
  // holds if the momentum and the learning rate were copied too.
  train(a, opt_a, 9, 2);
  train(b, opt_b, 9, 2);
  compared = 0;
  expect_state_equal(opt_a, opt_b, *a, *b, compared);
}

TEST(PbtExploit, CopiesAdamMomentsAndStepAcrossSerialisedBytes) {
  auto a = testing::small_mlp(1), b = testing::small_mlp(2);
  torch::optim::Adam opt_a(a->parameters(), torch::optim::AdamOptions(1e-3));
  torch::optim::Adam opt_b(b->parameters(), torch::optim::AdamOptions(1e-3));
  train(a, opt_a, 1, 4);
  train(b, opt_b, 2, 1);
  load_member(save_member(*a, opt_a), *b, opt_b);
  int compared = 0;
  expect_state_equal(opt_a, opt_b, *a, *b, compared);
  EXPECT_EQ(compared, static_cast<int>(a->parameters().size()));
  EXPECT_THROW(load_member(save_member(*testing::small_cnn(3), opt_a), *b, opt_b), InputError);
}

TEST(PbtExploit, ApplyHyperparametersSetsOptimizerOptions) {
  auto m = testing::small_mlp(1);
  torch::optim::SGD sgd(m->parameters(), torch::optim::SGDOptions(0.1).momentum(0.9));
  apply_hyperparameters(sgd, {{"lr", 0.02}, {"momentum", 0.5}, {"weight_decay", 1e-4}, {"alpha", 3}});
  const auto& o = static_cast<const torch::optim::SGDOptions&>(sgd.param_groups()[0].options());
  EXPECT_EQ(o.lr(), 0.02);
  EXPECT_EQ(o.momentum(), 0.5);
  EXPECT_EQ(o.weight_decay(), 1e-4);
}

}  // namespace
}  // namespace cohort
