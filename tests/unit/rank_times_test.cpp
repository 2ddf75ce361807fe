// Naming the straggler from the ranks' busy times (train/record/rank_times.h).
#include "train/record/rank_times.h"

#include <gtest/gtest.h>

namespace cohort {
namespace {

TEST(RankTimes, TheSlowestRankIsComparedWithTheMedianOfTheOthers) {
  const RankTimes two = compare_ranks({1.0, 3.0});
  EXPECT_EQ(two.slowest, 1);
  EXPECT_DOUBLE_EQ(two.over_others, 3.0);
  EXPECT_TRUE(two.straggler);
  // One slow rank among four: against the others' median (1.1), not a mean
  // pulled up by the slow rank itself.
  const RankTimes four = compare_ranks({1.0, 1.2, 2.2, 1.1});
  EXPECT_EQ(four.slowest, 2);
  EXPECT_DOUBLE_EQ(four.over_others, 2.0);
  EXPECT_TRUE(four.straggler);
}

TEST(RankTimes, EvenRanksAreNoStragglers) {
  const RankTimes even = compare_ranks({1.0, 1.2, 1.1});
  EXPECT_EQ(even.slowest, 1);
  EXPECT_NEAR(even.over_others, 1.2 / 1.05, 1e-12);
  EXPECT_FALSE(even.straggler);
  EXPECT_FALSE(compare_ranks({1.0, 1.4}).straggler);
  EXPECT_TRUE(compare_ranks({1.0, 1.4}, 1.3).straggler);
}

TEST(RankTimes, NothingToCompareIsNoStraggler) {
  EXPECT_FALSE(compare_ranks({2.0}).straggler);
  EXPECT_FALSE(compare_ranks({0.0, 0.0}).straggler);
  EXPECT_EQ(compare_ranks({0.0, 0.5}).over_others, 1.0);  // no yardstick
}

}  // namespace
}  // namespace cohort
