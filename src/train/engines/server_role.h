// A parameter-server rank of `cohort train` (parallel.mode = "async"): owns its
// shard of the network's parameters until every worker is done, then sends the
// leader what it saw.
#pragma once

#include <vector>

#include "cohort/async/shard_plan.h"
#include "cohort/config.h"
#include "cohort/trace.h"
#include "train/networks/network.h"
#include "train/process/process_context.h"

namespace cohort {

// The shards every rank of the job agrees on, by the parameters' bytes.
ShardPlan server_shards(const Network& net, int servers);

// `net` holds the starting values (a fresh or a restored network).
void serve_parameters(const Config& config, const ProcessContext& ctx, const Network& net,
                      TraceRecorder& trace);

}  // namespace cohort
