// Variable-length messages between two ranks over a Communicator: the length
// first, checked by the receiver against a limit before it allocates, then the
// bytes. For state and traces sent to the leader, not for the hot path.
#pragma once

#include <cstdint>
#include <string>

#include "cohort/comm.h"

namespace cohort {

// Larger than anything Cohort sends by orders of magnitude, small enough that a
// corrupted length cannot make the receiver allocate the machine away.
constexpr int64_t kMaxMessageBytes = int64_t(16) << 30;

void send_bytes(Communicator& comm, const std::string& bytes, int dst, int tag);
// CommError when the announced length is negative or above `max_bytes`.
std::string recv_bytes(Communicator& comm, int src, int tag, int64_t max_bytes = kMaxMessageBytes);

}  // namespace cohort
