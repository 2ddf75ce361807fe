#pragma once
#include <cstdint>

namespace cohort {
// Intra-op threads for this process: the configured count, or the machine's cores
// shared among the processes on this host (LOCAL_WORLD_SIZE).
// (never more than the cores).
int64_t configure_threads(int64_t configured);
// InputError when train.threads asks for more threads than this machine has cores.
void check_threads(int64_t configured);
}  // namespace cohort
