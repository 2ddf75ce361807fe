#include "cohort/ddp/bucket_plan.h"

#include <gtest/gtest.h>

#include "cohort/error.h"

namespace cohort {
namespace {

using Buckets = std::vector<std::vector<size_t>>;

TEST(BucketPlan, FusesInGivenOrderUpToCap) {
  // 4 parameters of 40, 30, 20, 50 bytes; cap 60: 3+2 = 50 fits, 1 would make 80.
  const std::vector<int64_t> sizes = {40, 30, 20, 50};
  auto plan = BucketPlan::pack(sizes, reverse_registration_order(4), 60);
  EXPECT_EQ(plan.buckets, (Buckets{{3}, {2, 1}, {0}}));
  EXPECT_EQ(plan.num_parameters(), 4u);
  EXPECT_EQ(plan.bucket_of(), (std::vector<size_t>{2, 1, 1, 0}));
}

TEST(BucketPlan, ExactFitStaysInOneBucket) {
  auto plan = BucketPlan::pack({10, 20, 30}, {0, 1, 2}, 60);
  EXPECT_EQ(plan.buckets, (Buckets{{0, 1, 2}}));
}

TEST(BucketPlan, ParameterLargerThanCapGetsItsOwnBucket) {
  auto plan = BucketPlan::pack({10, 500, 10, 10}, {0, 1, 2, 3}, 100);
  EXPECT_EQ(plan.buckets, (Buckets{{0}, {1}, {2, 3}}));
  // A cap smaller than every parameter: one bucket each.
  auto tiny = BucketPlan::pack({10, 500, 10, 10}, {3, 2, 1, 0}, 1);
  EXPECT_EQ(tiny.buckets, (Buckets{{3}, {2}, {1}, {0}}));
}

TEST(BucketPlan, DefaultCapHoldsSmallModelInOneBucket) {
  // The mlp's float32 parameters: 784x256, 256, 256x256, 256, 256x10, 10.
  std::vector<int64_t> sizes = {784 * 256 * 4, 256 * 4, 256 * 256 * 4, 256 * 4, 2560 * 4, 40};
  auto plan = BucketPlan::pack(sizes, reverse_registration_order(6), kDefaultBucketCapBytes);
  EXPECT_EQ(plan.buckets, (Buckets{{5, 4, 3, 2, 1, 0}}));
}

TEST(BucketPlan, FirstBucketHasItsOwnCap) {
  // The mlp again: the first bucket stops before the 784x256 weight, so its
  // reduction can start while that weight's gradient is being computed.
  std::vector<int64_t> sizes = {784 * 256 * 4, 256 * 4, 256 * 256 * 4, 256 * 4, 2560 * 4, 40};
  auto plan = BucketPlan::pack(sizes, reverse_registration_order(6), kDefaultBucketCapBytes,
                               kCudaFirstBucketCapBytes);
  EXPECT_EQ(plan.buckets, (Buckets{{5, 4, 3, 2, 1}, {0}}));
  // A first cap above the cap changes nothing.
  EXPECT_EQ(BucketPlan::pack({8, 8, 8}, {0, 1, 2}, 16, 64).buckets, (Buckets{{0, 1}, {2}}));
  EXPECT_EQ(BucketPlan::pack({8, 8, 8}, {0, 1, 2}, 16, 8).buckets, (Buckets{{0}, {1, 2}}));
}

TEST(BucketPlan, FirstBucketCapDefaultsByDevice) {
  // CUDA keeps PyTorch's small first bucket; CPU plans without one.
  EXPECT_EQ(first_bucket_cap_for(kFirstBucketCapByDevice, /*cuda=*/true), kCudaFirstBucketCapBytes);
  EXPECT_EQ(first_bucket_cap_for(kFirstBucketCapByDevice, /*cuda=*/false), 0);
  // An explicit request wins on either device, 0 included.
  EXPECT_EQ(first_bucket_cap_for(0, true), 0);
  EXPECT_EQ(first_bucket_cap_for(4096, false), 4096);
  EXPECT_EQ(first_bucket_cap_for(4096, true), 4096);
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
