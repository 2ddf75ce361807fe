#pragma once
#include <string>

#include "cohort/config.h"
#include "cohort/ddp.h"
#include "cohort/ddp/comm_hook.h"

namespace cohort {
// The DDP communication hook that parallel.comm_hook names (none = exact average).
CommHookPtr make_comm_hook(const std::string& name, uint64_t seed);

// What every engine's DDP takes from the config: the bucket cap and the hook.
DdpOptions ddp_options(const Config& config);
}  // namespace cohort
