#include "launch/elastic_plan.h"

#include <gtest/gtest.h>

#include "cohort/error.h"

using namespace cohort;

TEST(ElasticPlan, ParsesACountOrARange) {
  EXPECT_FALSE(parse_rank_range("4").elastic());
  EXPECT_EQ(parse_rank_range("4").max, 4);
  const RankRange range = parse_rank_range("2:8");
  EXPECT_TRUE(range.elastic());
  EXPECT_EQ(range.min, 2);
  EXPECT_EQ(range.max, 8);
  for (const char* bad : {"", "0", "-1", "x", "3:", ":3", "4:2", "2:4:6", "1.5", "2: 4"})
    EXPECT_THROW(parse_rank_range(bad), InputError) << bad;
}

// Every rank must play as many replicas, so the survivors keep the most ranks
// that divide the replicas; below MIN the job stops.
TEST(ElasticPlan, ReformsOnTheMostRanksThatShareTheReplicasEvenly) {
  EXPECT_EQ(reformed_ranks(2, 1, 1), 1);
  EXPECT_EQ(reformed_ranks(4, 3, 1), 2);
  EXPECT_EQ(reformed_ranks(8, 7, 1), 4);
  EXPECT_EQ(reformed_ranks(6, 5, 1), 3);
  EXPECT_EQ(reformed_ranks(12, 11, 1), 6);
  EXPECT_EQ(reformed_ranks(4, 3, 3), 0);
  EXPECT_EQ(reformed_ranks(2, 0, 1), 0);
  EXPECT_EQ(reformed_ranks(7, 6, 1), 1);  // a prime: one rank plays them all
  EXPECT_EQ(reformed_ranks(4, 9, 1), 4);  // never more ranks than replicas
}

// Tensor-parallel replicas span T ranks: the survivors keep whole replicas,
// as many as divide the replicas evenly.
TEST(ElasticPlan, ReformsOnWholeTensorParallelReplicas) {
  EXPECT_EQ(reformed_ranks(2, 3, 1, 2), 2);  // 2 replicas x 2 slices, one rank lost
  EXPECT_EQ(reformed_ranks(4, 7, 1, 2), 4);  // 3 whole replicas left; 2 of them share 4
  EXPECT_EQ(reformed_ranks(3, 5, 1, 2), 2);  // 2 whole replicas cannot share 3; 1 plays all
  EXPECT_EQ(reformed_ranks(2, 1, 1, 2), 0);  // no whole replica left
  EXPECT_EQ(reformed_ranks(4, 7, 6, 2), 0);  // 4 ranks would be fewer than MIN
  EXPECT_EQ(reformed_ranks(2, 4, 1, 2), 4);  // never more ranks than the replicas hold
}

TEST(ElasticPlan, ReplicasPerRank) {
  EXPECT_EQ(replicas_per_rank(2, 2, 2), 2);
  EXPECT_EQ(replicas_per_rank(4, 4, 2), 2);
  EXPECT_THROW(replicas_per_rank(2, 3, 2), InputError);  // half a replica
  EXPECT_THROW(replicas_per_rank(3, 4, 2), InputError);  // 2 ranks' worth cannot share 3
  EXPECT_EQ(replicas_per_rank(4, 2), 2);
  EXPECT_EQ(replicas_per_rank(4, 4), 1);
  EXPECT_THROW(replicas_per_rank(4, 3), InputError);
  EXPECT_THROW(replicas_per_rank(4, 0), InputError);
}

// Members with their own layouts are placed again over any count of ranks left,
// where replicas need a count that shares them evenly.
TEST(ElasticPlan, MembersReformOnEveryRankLeftFromMinUp) {
  const ElasticShape members{4, 1, true}, replicas{4, 1, false};
  EXPECT_EQ(reformed_ranks(members, 3, 2), 3);
  EXPECT_EQ(reformed_ranks(replicas, 3, 2), 2);
  EXPECT_EQ(reformed_ranks(members, 1, 2), 0);
  EXPECT_EQ(reformed_ranks(members, 1, 0), 1);
  EXPECT_EQ(reformed_roles(members, 3), "its members placed again over them");
  EXPECT_EQ(reformed_roles(replicas, 2), "each playing 2 of the 4 replicas");
}
