// Which gradients travel together. Small gradients are fused into buckets so
// that one allreduce carries many of them (per-message latency dominates small
// transfers), while buckets stay small enough that the first can be reduced
// while backward is still computing the rest. A pure value: computed from sizes
// and an order, tested without a process.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace cohort {

// PyTorch's default: big enough to amortise Gloo's per-message cost (about 1.8
// GB/s at 16 MB against 0.5 GB/s at 1 MB on loopback), small enough to overlap.
inline constexpr int64_t kDefaultBucketCapBytes = 25 * 1024 * 1024;
// On CUDA the first bucket launched is capped lower (as in PyTorch), so
// communication starts after the first few gradients instead of after 25 MB of
// them; on models smaller than the cap this is what lets any of it hide behind
// backward.
inline constexpr int64_t kCudaFirstBucketCapBytes = 1024 * 1024;
// DdpOptions' default for the first bucket's cap: decided by the parameters'
// device (first_bucket_cap_for).
inline constexpr int64_t kFirstBucketCapByDevice = -1;

// The first bucket's cap to plan with. A negative request picks by device:
// kCudaFirstBucketCapBytes on CUDA; on CPU none (0), because there each Gloo
// collective costs a fixed hand-off between threads (about 0.3 ms, more when
// they must be woken) and its threads take cores from backward: on 2 ranks of
// a 2-core VM one bucket instead of two gave the mlp 7% and the cnn 4% more
// samples/s (docs/benchmarks/ddp.md). A request of 0 or more is kept.
int64_t first_bucket_cap_for(int64_t requested_bytes, bool cuda);

struct BucketPlan {
  // Parameter indices per bucket. Buckets are listed in launch order and each
  // bucket's parameters in the order their gradients are expected.
  std::vector<std::vector<size_t>> buckets;

  // Visits parameters in `order` (a permutation of 0..sizes.size()-1) and
  // closes a bucket when the next parameter would take it over `cap_bytes`. A
  // parameter larger than the cap gets a bucket of its own. The first bucket
  // uses `first_cap_bytes` instead when it is positive and smaller. Raises
  // InputError when `order` is not a permutation or the cap is not positive.
  static BucketPlan pack(const std::vector<int64_t>& sizes_bytes,
                         const std::vector<size_t>& order, int64_t cap_bytes,
                         int64_t first_cap_bytes = 0);

  size_t num_parameters() const;
  // bucket_of()[p] is the bucket holding parameter p.
  std::vector<size_t> bucket_of() const;
  bool operator==(const BucketPlan& other) const { return buckets == other.buckets; }
};

// Before any gradient has been seen: backward produces gradients roughly from
// the last registered parameter to the first.
std::vector<size_t> reverse_registration_order(size_t num_parameters);

// The order of the first step as observed (parameters that got no gradient are
// missing from it) completed with the missing ones in reverse registration order.
// Duplicates and out-of-range indices raise InputError.
std::vector<size_t> complete_order(const std::vector<size_t>& observed, size_t num_parameters);

}  // namespace cohort
