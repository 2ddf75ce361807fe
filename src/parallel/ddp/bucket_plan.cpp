#include "cohort/ddp/bucket_plan.h"

#include <fmt/format.h>

#include <algorithm>

#include "cohort/error.h"

namespace cohort {
namespace {

// Marks each index in `order` as seen; raises on a repeat or an index out of range.
std::vector<bool> mark_seen(const std::vector<size_t>& order, size_t num_parameters,
                            const char* what) {
  std::vector<bool> seen(num_parameters, false);
  for (size_t p : order) {
    if (p >= num_parameters) {
      throw InputError(fmt::format("bucket plan: {} names parameter {} but the model has {}",
                                   what, p, num_parameters));
    }
    if (seen[p]) {
      throw InputError(fmt::format("bucket plan: {} names parameter {} twice", what, p));
    }
    seen[p] = true;
  }
  return seen;
}

}  // namespace

BucketPlan BucketPlan::pack(const std::vector<int64_t>& sizes_bytes,
                            const std::vector<size_t>& order, int64_t cap_bytes,
                            int64_t first_cap_bytes) {
  if (cap_bytes <= 0) {
    throw InputError(fmt::format("bucket plan: bucket cap must be positive, got {} bytes",
                                 cap_bytes));
  }
  if (order.size() != sizes_bytes.size()) {
    throw InputError(fmt::format("bucket plan: order lists {} parameters but there are {}",
                                 order.size(), sizes_bytes.size()));
  }
  mark_seen(order, sizes_bytes.size(), "order");

  BucketPlan plan;
  std::vector<size_t> current;
  int64_t current_bytes = 0;
  for (size_t p : order) {
    current.push_back(p);
    current_bytes += sizes_bytes[p];
    const int64_t cap = plan.buckets.empty() && first_cap_bytes > 0
                            ? std::min(first_cap_bytes, cap_bytes)
                            : cap_bytes;
    if (current_bytes >= cap) {
      plan.buckets.push_back(std::move(current));
      current.clear();
      current_bytes = 0;
    }
  }
  if (!current.empty()) plan.buckets.push_back(std::move(current));
  return plan;
}

size_t BucketPlan::num_parameters() const {
  size_t n = 0;
  for (const auto& bucket : buckets) n += bucket.size();
  return n;
}

std::vector<size_t> BucketPlan::bucket_of() const {
  std::vector<size_t> owner(num_parameters());
  for (size_t b = 0; b < buckets.size(); ++b) {
    for (size_t p : buckets[b]) owner[p] = b;
  }
  return owner;
}

std::vector<size_t> reverse_registration_order(size_t num_parameters) {
  std::vector<size_t> order(num_parameters);
  for (size_t i = 0; i < num_parameters; ++i) order[i] = num_parameters - 1 - i;
  return order;
}

std::vector<size_t> complete_order(const std::vector<size_t>& observed, size_t num_parameters) {
  std::vector<bool> seen = mark_seen(observed, num_parameters, "observed order");
  std::vector<size_t> order = observed;
  for (size_t p : reverse_registration_order(num_parameters)) {
    if (!seen[p]) order.push_back(p);
  }
  return order;
}

}  // namespace cohort
