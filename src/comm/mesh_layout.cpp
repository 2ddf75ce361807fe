#include <fmt/format.h>
#include <fmt/ranges.h>

#include <set>

#include "cohort/error.h"
#include "cohort/mesh.h"

namespace cohort {

MeshLayout::MeshLayout(std::vector<MeshDim> dims) : dims_(std::move(dims)) {
  if (dims_.empty()) throw InputError("a device mesh needs at least one dimension");
  std::set<std::string> names;
  for (const auto& d : dims_) {
    if (d.name.empty()) throw InputError("mesh dimensions need names (e.g. data, pipeline)");
    if (!names.insert(d.name).second)
      throw InputError(fmt::format("mesh dimension '{}' appears twice", d.name));
    if (d.size < 1)
      throw InputError(fmt::format("mesh dimension '{}' has size {}; sizes must be at least 1",
                                   d.name, d.size));
    size_ *= d.size;
  }
}

int MeshLayout::dim_index(const std::string& name) const {
  for (size_t i = 0; i < dims_.size(); ++i)
    if (dims_[i].name == name) return static_cast<int>(i);
  std::vector<std::string> known;
  for (const auto& d : dims_) known.push_back(d.name);
  throw InputError(fmt::format("the mesh has no dimension '{}'; it has: {}", name,
                               fmt::join(known, ", ")));
}

void MeshLayout::check_rank(int rank) const {
  if (rank < 0 || rank >= size_)
    throw InputError(fmt::format("rank {} is outside the mesh {} of {} ranks", rank, describe(),
                                 size_));
}

std::vector<int> MeshLayout::coordinate(int rank) const {
  check_rank(rank);
  std::vector<int> coord(dims_.size());
  for (size_t i = dims_.size(); i-- > 0;) {
    coord[i] = rank % dims_[i].size;
    rank /= dims_[i].size;
  }
  return coord;
}

int MeshLayout::rank(const std::vector<int>& coordinate) const {
  if (coordinate.size() != dims_.size())
    throw InputError(fmt::format("a coordinate on mesh {} needs {} values, got {}", describe(),
                                 dims_.size(), coordinate.size()));
  int rank = 0;
  for (size_t i = 0; i < dims_.size(); ++i) {
    if (coordinate[i] < 0 || coordinate[i] >= dims_[i].size)
      throw InputError(fmt::format("coordinate {} on dimension '{}' is outside 0..{}",
                                   coordinate[i], dims_[i].name, dims_[i].size - 1));
    rank = rank * dims_[i].size + coordinate[i];
  }
  return rank;
}

std::vector<int> MeshLayout::slice(const std::string& dim, int rank) const {
  const int d = dim_index(dim);
  auto coord = coordinate(rank);
  std::vector<int> ranks;
  for (int i = 0; i < dims_[d].size; ++i) {
    coord[d] = i;
    ranks.push_back(this->rank(coord));
  }
  return ranks;
}

std::vector<std::vector<int>> MeshLayout::slices(const std::string& dim) const {
  const int d = dim_index(dim);
  std::vector<std::vector<int>> result;
  for (int r = 0; r < size_; ++r)
    if (coordinate(r)[d] == 0) result.push_back(slice(dim, r));
  return result;
}

void MeshLayout::check_world_size(int world_size) const {
  if (world_size != size_)
    throw InputError(fmt::format("the mesh {} needs {} ranks but the world has {}; start {} "
                                 "processes or change the mesh",
                                 describe(), size_, world_size, size_));
}

std::string MeshLayout::describe() const {
  std::vector<std::string> parts;
  for (const auto& d : dims_) parts.push_back(fmt::format("{}={}", d.name, d.size));
  return fmt::format("{}", fmt::join(parts, " x "));
}

}  // namespace cohort
