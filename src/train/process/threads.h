#pragma once
#include <cstdint>

namespace cohort {
// Intra-op threads for this process: the configured count, or the machine's cores
// shared among the `local_processes` on this host (WorldInfo::local_world_size,
// whichever launcher set it); never more than the cores.
int64_t configure_threads(int64_t configured, int local_processes = 1);
// InputError when train.threads asks for more threads than this machine has cores.
void check_threads(int64_t configured);
}  // namespace cohort
