#include "cohort/zero/flat_shard_plan.h"

#include <gtest/gtest.h>

#include <utility>

#include "cohort/error.h"

namespace cohort {
namespace {

using Groups = std::vector<std::vector<size_t>>;

Groups groups_of(const FlatShardPlan& plan) {
  Groups groups;
  for (const auto& unit : plan.units) groups.push_back(unit.parameters);
  return groups;
}

TEST(FlatShardPlan, GroupsConsecutiveParametersUpToTheCap) {
  // 40 + 30 = 70 fits a cap of 80; 20 more would not.
  const auto plan = plan_flat_shards({40, 30, 20, 50}, 2, 80);
  EXPECT_EQ(groups_of(plan), (Groups{{0, 1}, {2, 3}}));
  EXPECT_EQ(plan.units[0].offsets, (std::vector<int64_t>{0, 40}));
  EXPECT_EQ(plan.units[1].offsets, (std::vector<int64_t>{0, 20}));
  EXPECT_EQ(plan.units[0].numel, 70);
  EXPECT_EQ(plan.units[1].numel, 70);
}

TEST(FlatShardPlan, PadsEachUnitToAMultipleOfTheWorldSize) {
  // 7 + 3 = 10 elements over 4 ranks: 12, chunks of 3; 5 over 4: 8, chunks of 2.
  const auto plan = plan_flat_shards({7, 3, 5}, 4, 10);
  ASSERT_EQ(plan.units.size(), 2u);
  EXPECT_EQ(plan.units[0].padded_numel, 12);
  EXPECT_EQ(plan.units[1].padded_numel, 8);
  EXPECT_EQ(plan.chunk_numel(0), 3);
  EXPECT_EQ(plan.chunk_numel(1), 2);
  EXPECT_EQ(plan.shard_numel(), 5);
  EXPECT_EQ(plan.padded_numel(), 20);
}

TEST(FlatShardPlan, AParameterLargerThanTheCapIsAUnitAlone) {
  const auto plan = plan_flat_shards({10, 500, 10, 10}, 2, 100);
  EXPECT_EQ(groups_of(plan), (Groups{{0}, {1}, {2, 3}}));
  // A cap below every parameter: one unit each.
  EXPECT_EQ(groups_of(plan_flat_shards({10, 500, 10}, 2, 1)), (Groups{{0}, {1}, {2}}));
}

TEST(FlatShardPlan, EveryElementBelongsToExactlyOneRank) {
  const std::vector<int64_t> numels = {13, 1, 64, 7, 0, 33, 2};
  for (int world : {1, 2, 3, 4, 8}) {
    for (int64_t cap : {1, 16, 50, 1000}) {
      const auto plan = plan_flat_shards(numels, world, cap);
      size_t next = 0;
      int64_t total = 0;
      for (size_t u = 0; u < plan.units.size(); ++u) {
        const auto& unit = plan.units[u];
        int64_t offset = 0;
        for (size_t i = 0; i < unit.parameters.size(); ++i) {
          EXPECT_EQ(unit.parameters[i], next++) << "parameters out of order";
          EXPECT_EQ(unit.offsets[i], offset);
          offset += numels[unit.parameters[i]];
        }
        EXPECT_EQ(unit.numel, offset);
        EXPECT_EQ(unit.padded_numel % world, 0);
        // Less than one element per rank of padding (an empty unit gets one each).
        EXPECT_LE(unit.padded_numel - unit.numel, unit.numel == 0 ? world : world - 1);
        EXPECT_GE(unit.padded_numel, unit.numel);
        // The chunks tile the padded buffer: world * chunk == padded.
        EXPECT_EQ(plan.chunk_numel(u) * world, unit.padded_numel);
        total += unit.numel;
      }
      EXPECT_EQ(next, numels.size());
      EXPECT_EQ(total, 120);
    }
  }
}

TEST(FlatShardPlan, NoParametersNoUnits) {
  const auto plan = plan_flat_shards({}, 4, 100);
  EXPECT_TRUE(plan.units.empty());
  EXPECT_EQ(plan.shard_numel(), 0);
}

TEST(FlatShardPlan, RefusesAnImpossibleWorldOrCap) {
  EXPECT_THROW(plan_flat_shards({10}, 0, 100), InputError);
  EXPECT_THROW(plan_flat_shards({10}, 2, 0), InputError);
  EXPECT_THROW(plan_flat_shards({-1}, 2, 10), InputError);
}

using Layers = std::vector<std::pair<size_t, size_t>>;

Layers layers_of(const FlatShardPlan& plan) {
  Layers layers;
  for (const auto& unit : plan.units) layers.emplace_back(unit.first_layer, unit.end_layer);
  return layers;
}

// An mlp as stage 3 sees it: flatten, linear (weight, bias), relu, linear, relu, linear.
const std::vector<std::vector<int64_t>> kMlp = {{}, {784 * 256, 256}, {}, {256 * 256, 256},
                                                {}, {256 * 10, 10}};

TEST(LayerShardPlan, UnitsEndAtLayerBoundariesAndCoverEveryLayer) {
  // A cap below every layer: one unit per parameterised layer; the leading
  // flatten joins the first, each relu the unit before it.
  const auto plan = plan_layer_shards(kMlp, 4, 1000);
  EXPECT_EQ(layers_of(plan), (Layers{{0, 3}, {3, 5}, {5, 6}}));
  EXPECT_EQ(groups_of(plan), (Groups{{0, 1}, {2, 3}, {4, 5}}));
  EXPECT_EQ(plan.units[1].offsets, (std::vector<int64_t>{0, 256 * 256}));
  EXPECT_EQ(plan.units[2].numel, 2570);
  EXPECT_EQ(plan.units[2].padded_numel, 2572);
}

TEST(LayerShardPlan, GroupsWholeLayersUpToTheCap) {
  // The last two linear layers (65792 + 2570) fit a cap of 70000; the first does not.
  const auto plan = plan_layer_shards(kMlp, 2, 70000);
  EXPECT_EQ(layers_of(plan), (Layers{{0, 3}, {3, 6}}));
  EXPECT_EQ(groups_of(plan), (Groups{{0, 1}, {2, 3, 4, 5}}));
  // A cap above the model: one unit, every layer.
  EXPECT_EQ(layers_of(plan_layer_shards(kMlp, 2, int64_t{1} << 40)), (Layers{{0, 6}}));
}

TEST(LayerShardPlan, TrailingLayersWithoutParametersJoinTheLastUnit) {
  const auto plan = plan_layer_shards({{6}, {}, {4}, {}, {}}, 2, 5);
  EXPECT_EQ(layers_of(plan), (Layers{{0, 2}, {2, 5}}));
  EXPECT_TRUE(plan_layer_shards({{}, {}}, 2, 5).units.empty());
  EXPECT_THROW(plan_layer_shards(kMlp, 0, 5), InputError);
  EXPECT_THROW(plan_layer_shards({{3, -1}}, 2, 5), InputError);
}

}  // namespace
}  // namespace cohort
