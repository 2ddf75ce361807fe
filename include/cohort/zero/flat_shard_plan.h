// How sharded data parallelism splits a model's parameters among ranks, as
// PyTorch's FSDP does: consecutive parameters are grouped into units, each
// unit is flattened into one buffer padded to a multiple of the world size,
// and rank r holds chunk r of every unit. A unit's gradients are then one
// reduce-scatter and its parameters one all-gather, whatever the ranks.
// Pure: the plan is unit tested without processes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace cohort {

struct FlatShardUnit {
  // Indices into the model's trainable parameters, consecutive and ascending.
  std::vector<size_t> parameters;
  // Where each of them starts in the unit's flat buffer (parallel to parameters).
  std::vector<int64_t> offsets;
  int64_t numel = 0;         // the parameters' elements
  int64_t padded_numel = 0;  // numel rounded up to a multiple of the world size
  // Stage 3's units are whole layers of a sequential model: [first_layer,
  // end_layer). plan_flat_shards leaves both 0.
  size_t first_layer = 0;
  size_t end_layer = 0;
};

struct FlatShardPlan {
  int world_size = 1;
  std::vector<FlatShardUnit> units;

  // Elements of `unit` each rank holds.
  int64_t chunk_numel(size_t unit) const;
  // Elements each rank holds across every unit (padding included).
  int64_t shard_numel() const;
  // Elements of the whole model, padding included: world_size * shard_numel().
  int64_t padded_numel() const;
};

// Units of consecutive parameters of at most `unit_cap_numel` elements; a
// parameter larger than the cap is a unit of its own. InputError when the
// world size or the cap is below 1.
FlatShardPlan plan_flat_shards(const std::vector<int64_t>& parameter_numels, int world_size,
                               int64_t unit_cap_numel);

// Stage 3 gathers a unit's parameters just before its first layer runs and
// frees them after its last, so units end at layer boundaries: consecutive
// layers up to `unit_cap_numel` elements, a larger layer alone. Layers
// without parameters join the unit before them (leading ones the first), so
// the units cover every layer; a model without parameters has no units.
// `layer_parameter_numels[l]`: layer l's trainable parameters in order.
FlatShardPlan plan_layer_shards(const std::vector<std::vector<int64_t>>& layer_parameter_numels,
                                int world_size, int64_t unit_cap_numel);

}  // namespace cohort
