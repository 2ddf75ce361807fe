// The stale-synchronous rule (Ho et al., "More Effective Distributed ML via a
// Stale Synchronous Parallel Parameter Server", NIPS 2013) as one server sees
// it: a worker may start step c only once every live worker has pushed step
// c - s - 1, that is, no worker runs more than s steps ahead of the slowest.
// s = 0 is bulk-synchronous, a negative bound is fully asynchronous. Pure.
#pragma once

#include <cstdint>
#include <vector>

namespace cohort {

class StalenessGate {
 public:
  StalenessGate(int workers, int64_t bound);

  // `worker` has pushed the gradient of its step `step` (0-based): its clock
  // (steps pushed) becomes step + 1.
  void pushed(int worker, int64_t step);
  // `worker` has finished or died: it no longer holds anyone back.
  void retire(int worker);

  // The clock of the slowest live worker; INT64_MAX once all have retired.
  int64_t slowest() const;
  // How many steps ahead of the slowest live worker a worker starting `step` is.
  int64_t lead(int64_t step) const;
  // Whether a worker may start `step` now.
  bool may_start(int64_t step) const;

  int64_t bound() const { return bound_; }
  int live() const;

 private:
  int64_t bound_;
  std::vector<int64_t> clock_;
  std::vector<bool> live_;
};

}  // namespace cohort
