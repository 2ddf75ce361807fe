#include "observe/allocation_meter.h"

#include <ATen/ops/empty.h>
#include <ATen/ops/ones.h>
#include <gtest/gtest.h>

#include <thread>

using namespace cohort;

// 1 MiB of float32, allocated and freed while the meter listens.
TEST(AllocationMeter, CountsWhatIsAllocatedWhileAttachedAndItsPeak) {
  AllocationMeter meter;
  ASSERT_TRUE(meter.active());
  EXPECT_EQ(AllocationMeter::attached(), &meter);
  {
    at::Tensor a = at::empty({1 << 18});
    EXPECT_EQ(meter.current(), 1 << 20);
    at::Tensor b = at::empty({1 << 17});
    EXPECT_EQ(meter.current(), (1 << 20) + (1 << 19));
  }
  EXPECT_EQ(meter.current(), 0);
  EXPECT_EQ(meter.peak(), (1 << 20) + (1 << 19));
}

// Blocks from before it attached are not its own: their frees leave its count
// alone, and say nothing on stderr.
TEST(AllocationMeter, LeavesOutBlocksFromBeforeAndSaysNothing) {
  at::Tensor before = at::ones({1 << 16});
  testing::internal::CaptureStderr();
  {
    AllocationMeter meter;
    before = at::Tensor();
    at::Tensor mine = at::empty({1 << 10});
    EXPECT_EQ(meter.current(), 1 << 12);
    EXPECT_EQ(meter.peak(), 1 << 12);
  }
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "");
  EXPECT_EQ(AllocationMeter::attached(), nullptr);
}

// Another thread's allocations (a backend's buffers) are not counted, and
// nothing is counted once the meter is gone.
TEST(AllocationMeter, CountsOnlyItsOwnThread) {
  AllocationMeter meter;
  std::thread([] { at::Tensor other = at::empty({1 << 16}); }).join();
  EXPECT_EQ(meter.peak(), 0);
}

// Where something already listens (a profiler, or here an outer meter), a new
// meter counts nothing but is still the thread's attached one, so the metered
// step is known; the outer one is attached again when it goes.
TEST(AllocationMeter, InactiveUnderAnotherListenerYetAttached) {
  AllocationMeter outer;
  {
    AllocationMeter inner;
    EXPECT_FALSE(inner.active());
    EXPECT_EQ(AllocationMeter::attached(), &inner);
    at::Tensor t = at::empty({1 << 10});
    EXPECT_EQ(inner.peak(), 0);
    EXPECT_EQ(outer.current(), 1 << 12);
  }
  EXPECT_EQ(AllocationMeter::attached(), &outer);
}
