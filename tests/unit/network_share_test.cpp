// Which network group trains which networks (parallel.network): pure arithmetic.
#include <gtest/gtest.h>

#include "train/cohort/network_groups.h"

namespace cohort {
namespace {

TEST(NetworkShare, ContiguousEqualSharesInGroupOrder) {
  const NetworkShare share{3, 6};
  EXPECT_EQ(share.per_group(), 2u);
  EXPECT_EQ(share.owned_by(0), (std::vector<size_t>{0, 1}));
  EXPECT_EQ(share.owned_by(2), (std::vector<size_t>{4, 5}));
  for (size_t k = 0; k < 6; ++k) EXPECT_EQ(share.owner(k), int(k / 2));
}

TEST(NetworkShare, OneGroupOwnsEverything) {
  const NetworkShare share{1, 4};
  EXPECT_EQ(share.owned_by(0), (std::vector<size_t>{0, 1, 2, 3}));
  EXPECT_EQ(share.owner(3), 0);
}

}  // namespace
}  // namespace cohort
