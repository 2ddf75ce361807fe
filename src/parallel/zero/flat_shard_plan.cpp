#include "cohort/zero/flat_shard_plan.h"

#include <fmt/format.h>

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

}  // namespace

FlatShardPlan plan_flat_shards(const std::vector<int64_t>& parameter_numels, int world_size,
                               int64_t unit_cap_numel) {
  if (world_size < 1)
    throw InputError(
        fmt::format("a shard plan needs a world size of 1 or more, got {}", world_size));
  if (unit_cap_numel < 1)
    throw InputError(fmt::format("a shard unit must hold at least one element, got a cap of {}",
                                 unit_cap_numel));
  FlatShardPlan plan;
  plan.world_size = world_size;
  FlatShardUnit unit;
  for (size_t p = 0; p < parameter_numels.size(); ++p) {
    const int64_t numel = parameter_numels[p];
    if (numel < 0) throw InputError(fmt::format("parameter {} has {} elements", p, numel));
    if (!unit.parameters.empty() && unit.numel + numel > unit_cap_numel)
      close_unit(unit, world_size, plan.units);
    unit.parameters.push_back(p);
    unit.offsets.push_back(unit.numel);
    unit.numel += numel;
  }
  close_unit(unit, world_size, plan.units);
  return plan;
}

}  // namespace cohort
