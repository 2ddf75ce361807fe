#include "cohort/zero/flat_shard_plan.h"

#include <fmt/format.h>

#include <algorithm>

#include "cohort/error.h"

namespace cohort {

int64_t FlatShardPlan::chunk_numel(size_t unit) const {
  return units.at(unit).padded_numel / world_size;
}

int64_t FlatShardPlan::shard_numel() const {
  int64_t total = 0;
  for (size_t u = 0; u < units.size(); ++u) total += chunk_numel(u);
  return total;
}

int64_t FlatShardPlan::padded_numel() const { return shard_numel() * world_size; }

namespace {

void close_unit(FlatShardUnit& unit, int world_size, std::vector<FlatShardUnit>& units) {
  if (unit.parameters.empty()) return;
  unit.padded_numel = (unit.numel + world_size - 1) / world_size * world_size;
  // An all-empty unit still needs one element per rank to be a valid buffer.
  if (unit.padded_numel == 0) unit.padded_numel = world_size;
  units.push_back(std::move(unit));
  unit = FlatShardUnit{};
}

void check_plan_arguments(int world_size, int64_t unit_cap_numel) {
  if (world_size < 1)
    throw InputError(
        fmt::format("a shard plan needs a world size of 1 or more, got {}", world_size));
  if (unit_cap_numel < 1)
    throw InputError(fmt::format("a shard unit must hold at least one element, got a cap of {}",
                                 unit_cap_numel));
}

void add_parameter(FlatShardUnit& unit, size_t index, int64_t numel) {
  if (numel < 0) throw InputError(fmt::format("parameter {} has {} elements", index, numel));
  unit.parameters.push_back(index);
  unit.offsets.push_back(unit.numel);
  unit.numel += numel;
}

}  // namespace

FlatShardPlan plan_flat_shards(const std::vector<int64_t>& parameter_numels, int world_size,
                               int64_t unit_cap_numel) {
  check_plan_arguments(world_size, unit_cap_numel);
  FlatShardPlan plan;
  plan.world_size = world_size;
  FlatShardUnit unit;
  for (size_t p = 0; p < parameter_numels.size(); ++p) {
    if (!unit.parameters.empty() && unit.numel + parameter_numels[p] > unit_cap_numel)
      close_unit(unit, world_size, plan.units);
    add_parameter(unit, p, parameter_numels[p]);
  }
  close_unit(unit, world_size, plan.units);
  return plan;
}

FlatShardPlan plan_layer_shards(const std::vector<std::vector<int64_t>>& layer_parameter_numels,
                                int world_size, int64_t unit_cap_numel) {
  check_plan_arguments(world_size, unit_cap_numel);
  FlatShardPlan plan;
  plan.world_size = world_size;
  FlatShardUnit unit;
  size_t index = 0;
  for (size_t layer = 0; layer < layer_parameter_numels.size(); ++layer) {
    const auto& numels = layer_parameter_numels[layer];
    int64_t layer_numel = 0;
    for (int64_t n : numels) layer_numel += std::max<int64_t>(n, 0);
    if (!numels.empty() && !unit.parameters.empty() && unit.numel + layer_numel > unit_cap_numel) {
      unit.end_layer = layer;
      close_unit(unit, world_size, plan.units);
      unit.first_layer = layer;
    }
    for (int64_t n : numels) add_parameter(unit, index++, n);
  }
  unit.end_layer = layer_parameter_numels.size();
  if (unit.parameters.empty() && !plan.units.empty()) {
    plan.units.back().end_layer = unit.end_layer;  // trailing layers without parameters
  } else {
    close_unit(unit, world_size, plan.units);
  }
  return plan;
}

}  // namespace cohort
