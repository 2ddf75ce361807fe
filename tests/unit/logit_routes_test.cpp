// Mutual learning's routes between members with their own layouts
// (cohort/logit_routes.h): each rank receives its peers' logits on exactly the
// rows its members train on. Pure: no processes.
#include "cohort/logit_routes.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>

namespace cohort {
namespace {

using Rows = std::vector<int64_t>;

// The example without its pipeline: a cnn on ranks 0 and 1 (even and
// odd rows), two mlps sharing rank 2 (every row).
MemberLayouts cnn_and_two_mlps() { return MemberLayouts({{0, 1}, {2}, {2}}, 3); }

TEST(LogitRoutes, EachRankNeedsTheRowsItsMembersTrainOn) {
  const MemberLayouts m = cnn_and_two_mlps();
  EXPECT_EQ(rows_needed(m, 0, 6), (Rows{0, 2, 4}));
  EXPECT_EQ(rows_needed(m, 1, 6), (Rows{1, 3, 5}));
  EXPECT_EQ(rows_needed(m, 2, 6), (Rows{0, 1, 2, 3, 4, 5}));
}

TEST(LogitRoutes, OnlyTheNeededRowsTravel) {
  const MemberLayouts m = cnn_and_two_mlps();
  // The cnn's replicas need nothing of each other: the mlps' logits suffice.
  EXPECT_TRUE(logit_routes(m, 0, 1, 6).empty());
  EXPECT_TRUE(logit_routes(m, 2, 2, 6).empty());
  const auto to_mlps = logit_routes(m, 1, 2, 6);
  ASSERT_EQ(to_mlps.size(), 1u);
  EXPECT_EQ(to_mlps[0].member, 0u);
  EXPECT_EQ(to_mlps[0].rows, (Rows{1, 3, 5}));
  const auto to_cnn = logit_routes(m, 2, 0, 6);
  ASSERT_EQ(to_cnn.size(), 2u);
  EXPECT_EQ(to_cnn[0].member, 1u);
  EXPECT_EQ(to_cnn[1].member, 2u);
  EXPECT_EQ(to_cnn[1].rows, (Rows{0, 2, 4}));
}

// Rank 0 trains member 0's first replica and all of member 1: member 1 needs
// member 0's odd rows from rank 1, and rank 1 needs member 1's odd rows.
TEST(LogitRoutes, AMemberSharingARankWithAWiderOneGetsItsOtherReplicasRows) {
  const MemberLayouts m({{0, 1}, {0}}, 2);
  const auto from_1 = logit_routes(m, 1, 0, 4);
  ASSERT_EQ(from_1.size(), 1u);
  EXPECT_EQ(from_1[0].member, 0u);
  EXPECT_EQ(from_1[0].rows, (Rows{1, 3}));
  const auto from_0 = logit_routes(m, 0, 1, 4);
  ASSERT_EQ(from_0.size(), 1u);
  EXPECT_EQ(from_0[0].member, 1u);
  EXPECT_EQ(from_0[0].rows, (Rows{1, 3}));
}

// The example: a resnet pipelined over ranks 0 and 1, a cnn on ranks 2
// and 3, two mlps on rank 4. Only the resnet's last stage computes its loss
// and its logits: its first stage neither needs nor sends any.
TEST(LogitRoutes, APipelinesLogitsLiveOnItsLastStage) {
  const MemberLayouts m({{0, 1}, {2, 3}, {4}, {4}}, 5, {2, 1, 1, 1});
  EXPECT_TRUE(rows_needed(m, 0, 4).empty());
  EXPECT_EQ(rows_needed(m, 1, 4), (Rows{0, 1, 2, 3}));
  for (int other = 1; other < 5; ++other) {
    EXPECT_TRUE(logit_routes(m, 0, other, 4).empty()) << other;
    EXPECT_TRUE(logit_routes(m, other, 0, 4).empty()) << other;
  }
  const auto to_cnn = logit_routes(m, 1, 3, 4);
  ASSERT_EQ(to_cnn.size(), 1u);
  EXPECT_EQ(to_cnn[0].member, 0u);
  EXPECT_EQ(to_cnn[0].rows, (Rows{1, 3}));
  EXPECT_EQ(logit_routes(m, 4, 1, 4).size(), 2u);  // both mlps' to the resnet's loss
}

// Random layouts: the counted traffic is what listing every pair's routes gives,
// every row sent is received, and no rank receives more than an allreduce of
// every member's logits on the whole batch would hand it.
TEST(LogitRoutes, CountedTrafficMatchesTheRoutes) {
  std::mt19937 random(7);
  for (int trial = 0; trial < 200; ++trial) {
    const int world = 1 + int(random() % 6);
    const size_t members = 1 + random() % 4;
    const int64_t batch = 12;  // every replica count up to 4 divides it
    std::vector<std::vector<int>> ranks(members);
    for (auto& r : ranks) {
      std::vector<int> all(static_cast<size_t>(world));
      for (int i = 0; i < world; ++i) all[size_t(i)] = i;
      std::shuffle(all.begin(), all.end(), random);
      const int replicas = std::vector<int>{1, 2, 3, 4}[random() % 4];
      all.resize(size_t(std::min(world, replicas)));
      r = all;
    }
    for (int rank = 0; rank < world; ++rank) ranks[size_t(rank) % members].push_back(rank);
    for (auto& r : ranks) {  // the appended ranks may repeat one already there
      std::vector<int> unique;
      for (int x : r)
        if (std::find(unique.begin(), unique.end(), x) == unique.end()) unique.push_back(x);
      while (batch % int64_t(unique.size()) != 0) unique.pop_back();
      r = unique;
    }
    // Some members with an even number of ranks are pipelines of two stages.
    std::vector<int> stages;
    for (const auto& r : ranks) stages.push_back(r.size() % 2 == 0 && random() % 2 ? 2 : 1);
    const MemberLayouts m(ranks, world, stages);
    const LogitTraffic t = logit_traffic(m, batch);
    for (int to = 0; to < world; ++to) {
      std::vector<int64_t> received(members, 0);
      int sources = 0;
      for (int from = 0; from < world; ++from) {
        const auto routes = logit_routes(m, from, to, batch);
        sources += !routes.empty();
        for (const LogitRoute& route : routes) received[route.member] += int64_t(route.rows.size());
      }
      EXPECT_EQ(t.received_rows[size_t(to)], received) << "trial " << trial << " rank " << to;
      EXPECT_EQ(t.sources[size_t(to)], sources) << "trial " << trial << " rank " << to;
      for (size_t k = 0; k < members; ++k) EXPECT_LE(received[k], batch);
    }
    for (int from = 0; from < world; ++from) {
      std::vector<int64_t> sent(members, 0);
      for (int to = 0; to < world; ++to)
        for (const LogitRoute& route : logit_routes(m, from, to, batch))
          sent[route.member] += int64_t(route.rows.size());
      EXPECT_EQ(t.sent_rows[size_t(from)], sent) << "trial " << trial << " rank " << from;
    }
  }
}

}  // namespace
}  // namespace cohort
