// A Communicator that waits a fixed time before every message it sends and
// every collective it starts: the latency of a slow network, for tests and
// benchmarks on machines without netem (tc can shape bandwidth here, not delay).
// Enabled per process by the environment:
//   COHORT_COMM_DELAY_MS=5          the delay
//   COHORT_COMM_DELAY_RANKS=1,3     only these global ranks (default: all)
#pragma once

#include <chrono>

#include "cohort/comm.h"

namespace cohort {

CommunicatorPtr delayed(CommunicatorPtr inner, std::chrono::microseconds delay);

// `comm` wrapped as the environment asks for global rank `rank`; `comm` itself
// when it does not. InputError for a malformed value.
CommunicatorPtr delayed_from_environment(CommunicatorPtr comm, int rank);

}  // namespace cohort
