// Rank placement on the mesh: pure arithmetic, checked by hand-worked tables.
#include <gtest/gtest.h>

#include "cohort/error.h"
#include "cohort/mesh.h"

using namespace cohort;

namespace {
MeshLayout three_dims() { return MeshLayout({{"network", 2}, {"data", 3}, {"pipeline", 2}}); }
}  // namespace

TEST(MeshLayout, RowMajorCoordinates) {
  auto m = three_dims();
  EXPECT_EQ(m.size(), 12);
  // The last dimension varies fastest: rank = (network * 3 + data) * 2 + pipeline.
  EXPECT_EQ(m.coordinate(0), (std::vector<int>{0, 0, 0}));
  EXPECT_EQ(m.coordinate(1), (std::vector<int>{0, 0, 1}));
  EXPECT_EQ(m.coordinate(2), (std::vector<int>{0, 1, 0}));
  EXPECT_EQ(m.coordinate(7), (std::vector<int>{1, 0, 1}));
  EXPECT_EQ(m.coordinate(11), (std::vector<int>{1, 2, 1}));
  for (int r = 0; r < m.size(); ++r) EXPECT_EQ(m.rank(m.coordinate(r)), r);
}

TEST(MeshLayout, SlicesThroughARank) {
  auto m = three_dims();
  EXPECT_EQ(m.slice("pipeline", 7), (std::vector<int>{6, 7}));
  EXPECT_EQ(m.slice("data", 7), (std::vector<int>{7, 9, 11}));
  EXPECT_EQ(m.slice("network", 7), (std::vector<int>{1, 7}));
}

TEST(MeshLayout, SlicesPartitionTheWorld) {
  auto m = three_dims();
  for (const auto& dim : m.dims()) {
    auto slices = m.slices(dim.name);
    EXPECT_EQ(static_cast<int>(slices.size()), m.size() / dim.size) << dim.name;
    std::vector<int> seen(m.size(), 0);
    for (const auto& s : slices) {
      EXPECT_EQ(static_cast<int>(s.size()), dim.size);
      for (int r : s) {
        ++seen[r];
        EXPECT_EQ(m.slice(dim.name, r), s) << "rank " << r << " along " << dim.name;
      }
    }
    for (int r = 0; r < m.size(); ++r) EXPECT_EQ(seen[r], 1) << dim.name << " rank " << r;
  }
  EXPECT_EQ(m.slices("data").front(), (std::vector<int>{0, 2, 4}));
}

TEST(MeshLayout, WorldSizeMustEqualTheProduct) {
  auto m = three_dims();
  EXPECT_NO_THROW(m.check_world_size(12));
  try {
    m.check_world_size(8);
    FAIL() << "a world of 8 was accepted for 12 mesh cells";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("network=2 x data=3 x pipeline=2 needs 12 ranks"),
              std::string::npos)
        << e.what();
  }
}

TEST(MeshLayout, BadLayoutsAndQueriesAreInputErrors) {
  EXPECT_THROW(MeshLayout({}), InputError);
  EXPECT_THROW(MeshLayout({{"data", 2}, {"data", 2}}), InputError);
  EXPECT_THROW(MeshLayout({{"data", 0}}), InputError);
  EXPECT_THROW(MeshLayout({{"", 2}}), InputError);
  auto m = three_dims();
  EXPECT_THROW(m.slice("tensor", 0), InputError);
  EXPECT_THROW(m.coordinate(12), InputError);
  EXPECT_THROW(m.rank({0, 3, 0}), InputError);
  EXPECT_THROW(m.rank({0, 0}), InputError);
}
