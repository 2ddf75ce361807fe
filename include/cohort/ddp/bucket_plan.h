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
// The first bucket launched closes once it holds 1 MiB, as in PyTorch, so that
// its reduction starts while backward computes the earlier layers' gradients.
// "Once it holds" matters on CPU, where each Gloo collective costs a fixed
// hand-off between threads: a first bucket of a few kilobytes hides nothing and
// costs a collective (the cnn lost 4% with one capped *below* 1 MiB), while the
// cnn's first bucket, closed after fc1's 1.6 MB weight, hides 80-90% of its
// reduction behind the convolutions' backward (docs/benchmarks/ddp.md).
inline constexpr int64_t kFirstBucketCapBytes = 1024 * 1024;

struct BucketPlan {
  // Parameter indices per bucket. Buckets are listed in launch order and each
  // bucket's parameters in the order their gradients are expected.
  std::vector<std::vector<size_t>> buckets;

  // Visits parameters in `order` (a permutation of 0..sizes.size()-1) and
  // closes a bucket once it holds `cap_bytes` or more, PyTorch's rule: a bucket
  // exceeds its cap by at most its last parameter, and a parameter as large as
  // the cap ends its bucket. The first bucket uses `first_cap_bytes` instead when
  // it is positive and smaller. Raises InputError when `order` is not a
  // permutation or the cap is not positive.
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
