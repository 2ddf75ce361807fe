// The device mesh: ranks laid out on named dimensions, e.g. {"network", K},
// {"data", D}, {"pipeline", P}, row-major (the last dimension varies fastest, so
// ranks that differ only in the last dimension are neighbours, usually on one host).
#pragma once

#include <string>
#include <unordered_map>
#include <vector>

#include "cohort/comm.h"

namespace cohort {

struct MeshDim {
  std::string name;
  int size = 1;
};

// Pure rank <-> coordinate arithmetic, no processes.
class MeshLayout {
 public:
  // Names must be distinct and non-empty, sizes at least 1 (InputError otherwise).
  explicit MeshLayout(std::vector<MeshDim> dims);

  const std::vector<MeshDim>& dims() const { return dims_; }
  int size() const { return size_; }  // product of the dimension sizes
  int dim_index(const std::string& name) const;  // InputError naming the known dims

  std::vector<int> coordinate(int rank) const;
  int rank(const std::vector<int>& coordinate) const;

  // The ranks that share every coordinate with `rank` except along `dim`,
  // ordered by their coordinate on `dim` (their rank within the slice).
  std::vector<int> slice(const std::string& dim, int rank) const;
  // Every slice along `dim`, ordered by their first rank: the order in which all
  // ranks create the sub-groups.
  std::vector<std::vector<int>> slices(const std::string& dim) const;

  // InputError when the world does not have exactly size() ranks.
  void check_world_size(int world_size) const;
  // "network=2 x data=2 x pipeline=1", for messages.
  std::string describe() const;

 private:
  void check_rank(int rank) const;
  std::vector<MeshDim> dims_;
  int size_ = 1;
};

// One sub-communicator per dimension for this rank: the slice through it. All
// groups are created once, in the constructor (every rank creates all of them in
// the same order), and reused.
class DeviceMesh {
 public:
  DeviceMesh(MeshLayout layout, CommunicatorPtr world);

  const MeshLayout& layout() const { return layout_; }
  const CommunicatorPtr& world() const { return world_; }
  std::vector<int> coordinate() const { return layout_.coordinate(world_->rank()); }
  // The group of ranks along `dim` through this rank (InputError for unknown dims).
  CommunicatorPtr group(const std::string& dim) const;

 private:
  MeshLayout layout_;
  CommunicatorPtr world_;
  std::unordered_map<std::string, CommunicatorPtr> groups_;
};

}  // namespace cohort
