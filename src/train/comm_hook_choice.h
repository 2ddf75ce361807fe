#pragma once
#include <string>

#include "cohort/ddp/comm_hook.h"

namespace cohort {
// The DDP communication hook that parallel.comm_hook names (none = exact average).
CommHookPtr make_comm_hook(const std::string& name, uint64_t seed);
}  // namespace cohort
