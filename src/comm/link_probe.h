// Measures the link between two ranks of this machine as the job's process
// groups use it: two Gloo ranks (threads of this process, meeting through a
// file store, over loopback) time a small and a large allreduce. What
// `cohort plan` and `parallel.plan = "auto"` give the cost model
// (link_from_allreduces) unless the user gives the link.
#pragma once

#include <cstdint>

namespace cohort {

struct AllreduceTimes {
  int ranks = 2;
  double small_bytes = 0, small_seconds = 0;  // medians
  double large_bytes = 0, large_seconds = 0;
};

// `repeats` timed allreduces of each size after a warm-up; CommError when the
// two ranks cannot meet.
AllreduceTimes time_loopback_allreduces(int64_t large_bytes = 16 << 20, int repeats = 15);

}  // namespace cohort
