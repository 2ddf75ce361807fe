#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <functional>

#include "cohort/error.h"
#include "cohort/pipeline/partition.h"

using namespace cohort;

namespace {

// Exhaustive search over every contiguous cut: the reference for the DP.
double brute_force_best(const std::vector<double>& costs, int stages) {
  const int n = static_cast<int>(costs.size());
  double best = 1e300;
  std::function<void(int, int, double)> go = [&](int start, int left, double worst) {
    if (left == 1) {
      double c = 0;
      for (int i = start; i < n; ++i) c += costs[i];
      best = std::min(best, std::max(worst, c));
      return;
    }
    double c = 0;
    for (int end = start + 1; end <= n - (left - 1); ++end) {
      c += costs[end - 1];
      go(end, left - 1, std::max(worst, c));
    }
  };
  go(0, stages, 0);
  return best;
}

void expect_valid(const Partition& p, int64_t layers, int stages) {
  ASSERT_EQ(p.stages(), stages);
  EXPECT_EQ(p.bounds.front(), 0);
  EXPECT_EQ(p.bounds.back(), layers);
  for (int s = 0; s < stages; ++s) EXPECT_GT(p.layers(s), 0) << "stage " << s << " is empty";
}

torch::nn::Sequential small_mlp() {
  return torch::nn::Sequential(torch::nn::Flatten(), torch::nn::Linear(16, 32), torch::nn::ReLU(),
                               torch::nn::Linear(32, 32), torch::nn::ReLU(),
                               torch::nn::Linear(32, 4));
}

}  // namespace

TEST(PipelinePartition, UniformSpreadsTheRemainderOverTheFirstStages) {
  EXPECT_EQ(partition_uniform(7, 3).bounds, (std::vector<int64_t>{0, 3, 5, 7}));
  EXPECT_EQ(partition_uniform(6, 3).bounds, (std::vector<int64_t>{0, 2, 4, 6}));
  EXPECT_EQ(partition_uniform(4, 4).bounds, (std::vector<int64_t>{0, 1, 2, 3, 4}));
  EXPECT_EQ(partition_uniform(5, 1).bounds, (std::vector<int64_t>{0, 5}));
}

TEST(PipelinePartition, RejectsImpossibleStageCountsWithAFix) {
  try {
    partition_uniform(3, 4);
    FAIL() << "4 stages over 3 layers must be refused";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("at most 3 stages"), std::string::npos) << e.what();
    EXPECT_EQ(e.exit_code(), 2);
  }
  EXPECT_THROW(partition_uniform(3, 0), InputError);
  EXPECT_THROW(balance_costs({1, 2}, 3), InputError);
  EXPECT_THROW(balance_costs({1, 2}, -1), InputError);
  EXPECT_THROW(balance_costs({1, -2}, 1), InputError);
  EXPECT_THROW(parse_partition_method("random"), InputError);
  EXPECT_EQ(parse_partition_method("time"), PartitionMethod::Time);
}

TEST(PipelinePartition, BalanceIsOptimalAgainstExhaustiveSearch) {
  // Deterministic pseudo-random costs of many shapes, including zeros (ReLU,
  // pooling have no parameters) and one dominant layer.
  uint64_t state = 12345;
  auto next = [&] {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<double>((state >> 33) % 100);
  };
  for (int n = 1; n <= 9; ++n) {
    for (int trial = 0; trial < 20; ++trial) {
      std::vector<double> costs(n);
      for (auto& c : costs) c = trial % 4 == 0 ? std::max(0.0, next() - 50) : next();
      for (int p = 1; p <= n; ++p) {
        const Partition part = balance_costs(costs, p);
        expect_valid(part, n, p);
        const auto per_stage = stage_costs(costs, part);
        EXPECT_DOUBLE_EQ(*std::max_element(per_stage.begin(), per_stage.end()),
                         brute_force_best(costs, p))
            << "n=" << n << " p=" << p << " trial=" << trial;
      }
    }
  }
}

TEST(PipelinePartition, BalanceSeparatesTheHeavyLayer) {
  // One heavy layer in the middle: the best 3-cut isolates it.
  const Partition p = balance_costs({1, 1, 10, 1, 1}, 3);
  EXPECT_EQ(p.bounds, (std::vector<int64_t>{0, 2, 3, 5}));
  EXPECT_EQ(balance_costs({4, 4, 4, 4}, 2).bounds, (std::vector<int64_t>{0, 2, 4}));
}

TEST(PipelinePartition, ParamsCountsEachLayer) {
  auto model = small_mlp();
  const auto costs = parameter_costs(model);
  EXPECT_EQ(costs, (std::vector<double>{0, 16 * 32 + 32, 0, 32 * 32 + 32, 0, 32 * 4 + 4}));
  const Partition p = partition_model(model, 2, PartitionMethod::Params);
  expect_valid(p, 6, 2);
  const auto per_stage = stage_costs(costs, p);
  EXPECT_DOUBLE_EQ(std::max(per_stage[0], per_stage[1]), 32 * 32 + 32 + 32 * 4 + 4);
}

TEST(PipelinePartition, TimeProfilesEveryLayerAndBalances) {
  auto model = small_mlp();
  const auto costs = profile_layer_costs(model, torch::randn({8, 1, 4, 4}), 2);
  ASSERT_EQ(costs.size(), 6u);
  for (double c : costs) EXPECT_GT(c, 0);
  for (const auto& p : model->parameters()) {
    EXPECT_FALSE(p.grad().defined() && p.grad().abs().sum().item<double>() != 0)
        << "profiling must leave no gradient behind";
  }
  expect_valid(partition_model(model, 3, PartitionMethod::Time, torch::randn({8, 1, 4, 4})), 6, 3);
  EXPECT_THROW(partition_model(model, 3, PartitionMethod::Time), InputError);
}

TEST(PipelinePartition, StagesChainedReproduceTheModel) {
  torch::manual_seed(0);
  auto model = small_mlp();
  const Partition p = partition_uniform(model->size(), 3);
  const auto x = torch::randn({5, 1, 4, 4});
  at::Tensor y = x;
  std::vector<std::string> names;
  for (int s = 0; s < p.stages(); ++s) {
    auto stage = stage_layers(model, p, s);
    EXPECT_EQ(static_cast<int64_t>(stage->size()), p.layers(s));
    for (const auto& kv : stage->named_parameters()) names.push_back(kv.key());
    y = stage->forward(y);
  }
  EXPECT_TRUE(torch::equal(y, model->forward(x)));
  std::vector<std::string> whole;
  for (const auto& kv : model->named_parameters()) whole.push_back(kv.key());
  EXPECT_EQ(names, whole) << "stage parameter names must match the whole model's";
}
