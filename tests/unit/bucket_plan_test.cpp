#include "cohort/ddp/bucket_plan.h"

#include <gtest/gtest.h>

#include "cohort/error.h"

namespace cohort {
namespace {

using Buckets = std::vector<std::vector<size_t>>;

TEST(BucketPlan, ClosesABucketOnceItHoldsTheCap) {
  // 4 parameters of 40, 30, 20, 50 bytes, cap 60, PyTorch's rule: 3 (50) is under
  // the cap, 3+2 (70) reaches it and closes; then 1+0 (70).
  const std::vector<int64_t> sizes = {40, 30, 20, 50};
  auto plan = BucketPlan::pack(sizes, reverse_registration_order(4), 60);
  EXPECT_EQ(plan.buckets, (Buckets{{3, 2}, {1, 0}}));
  EXPECT_EQ(plan.num_parameters(), 4u);
  EXPECT_EQ(plan.bucket_of(), (std::vector<size_t>{1, 1, 0, 0}));
}

TEST(BucketPlan, ExactFitStaysInOneBucket) {
  auto plan = BucketPlan::pack({10, 20, 30}, {0, 1, 2}, 60);
  EXPECT_EQ(plan.buckets, (Buckets{{0, 1, 2}}));
}

TEST(BucketPlan, ParameterLargerThanCapEndsItsBucket) {
  auto plan = BucketPlan::pack({10, 500, 10, 10}, {0, 1, 2, 3}, 100);
  EXPECT_EQ(plan.buckets, (Buckets{{0, 1}, {2, 3}}));
  // A cap smaller than every parameter: one bucket each.
  auto tiny = BucketPlan::pack({10, 500, 10, 10}, {3, 2, 1, 0}, 1);
  EXPECT_EQ(tiny.buckets, (Buckets{{3}, {2}, {1}, {0}}));
}

// The zoo's float32 parameters in registration order.
const std::vector<int64_t> kMlpBytes = {784 * 256 * 4, 256 * 4,  256 * 256 * 4,
                                        256 * 4,       2560 * 4, 40};
const std::vector<int64_t> kCnnBytes = {32 * 9 * 4,     32 * 4,  64 * 32 * 9 * 4, 64 * 4,
                                        3136 * 128 * 4, 128 * 4, 1280 * 4,        40};

TEST(BucketPlan, DefaultCapHoldsSmallModelInOneBucket) {
  auto plan = BucketPlan::pack(kMlpBytes, reverse_registration_order(6), kDefaultBucketCapBytes);
  EXPECT_EQ(plan.buckets, (Buckets{{5, 4, 3, 2, 1, 0}}));
}

TEST(BucketPlan, FirstBucketHasItsOwnCap) {
  // The cnn: the first bucket closes after fc1's 1.6 MB weight, so its reduction
  // runs beside both convolutions' backward.
  auto cnn = BucketPlan::pack(kCnnBytes, reverse_registration_order(8), kDefaultBucketCapBytes,
                              kFirstBucketCapBytes);
  EXPECT_EQ(cnn.buckets, (Buckets{{7, 6, 5, 4}, {3, 2, 1, 0}}));
  // The mlp (1.03 MiB) reaches 1 MiB only with its last gradient: one bucket, no
  // collective left with nothing to hide behind.
  auto mlp = BucketPlan::pack(kMlpBytes, reverse_registration_order(6), kDefaultBucketCapBytes,
                              kFirstBucketCapBytes);
  EXPECT_EQ(mlp.buckets, (Buckets{{5, 4, 3, 2, 1, 0}}));
  // A first cap above the cap changes nothing.
  EXPECT_EQ(BucketPlan::pack({8, 8, 8}, {0, 1, 2}, 16, 64).buckets, (Buckets{{0, 1}, {2}}));
  EXPECT_EQ(BucketPlan::pack({8, 8, 8}, {0, 1, 2}, 16, 8).buckets, (Buckets{{0}, {1, 2}}));
}

TEST(BucketPlan, RebuiltFromObservedOrder) {
  // The first step saw 1 then 3; 0 and 2 got no gradient and follow in reverse
  // registration order.
  auto order = complete_order({1, 3}, 4);
  EXPECT_EQ(order, (std::vector<size_t>{1, 3, 2, 0}));
  auto plan = BucketPlan::pack({8, 8, 8, 8}, order, 16);
  EXPECT_EQ(plan.buckets, (Buckets{{1, 3}, {2, 0}}));
}

TEST(BucketPlan, RejectsBadInput) {
  EXPECT_THROW(BucketPlan::pack({8, 8}, {0, 0}, 16), InputError);
  EXPECT_THROW(BucketPlan::pack({8, 8}, {0, 2}, 16), InputError);
  EXPECT_THROW(BucketPlan::pack({8, 8}, {0}, 16), InputError);
  EXPECT_THROW(BucketPlan::pack({8, 8}, {0, 1}, 0), InputError);
  EXPECT_THROW(complete_order({1, 1}, 3), InputError);
  EXPECT_THROW(complete_order({5}, 3), InputError);
}

TEST(BucketPlan, EmptyModelHasNoBuckets) {
  EXPECT_TRUE(BucketPlan::pack({}, {}, 16).buckets.empty());
}

}  // namespace
}  // namespace cohort
