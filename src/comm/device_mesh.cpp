#include <fmt/format.h>
#include <fmt/ranges.h>

#include "cohort/error.h"
#include "cohort/mesh.h"

namespace cohort {

DeviceMesh::DeviceMesh(MeshLayout layout, CommunicatorPtr world)
    : layout_(std::move(layout)), world_(std::move(world)) {
  layout_.check_world_size(world_->size());
  // Every rank walks every slice of every dimension in the same order; c10d
  // sub-groups meet on the store by creation order, so skipping one would pair
  // the wrong groups.
  for (const auto& dim : layout_.dims()) {
    for (const auto& ranks : layout_.slices(dim.name)) {
      std::vector<int> global;
      for (int r : ranks) global.push_back(world_->global_rank(r));
      auto group = world_->new_group(global, fmt::format("{}{{{}}}", dim.name, fmt::join(global, ",")));
      if (group) groups_[dim.name] = group;
    }
  }
}

CommunicatorPtr DeviceMesh::group(const std::string& dim) const {
  layout_.dim_index(dim);  // unknown names raise InputError listing the known ones
  return groups_.at(dim);
}

}  // namespace cohort
