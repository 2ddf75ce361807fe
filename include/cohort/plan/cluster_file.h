// A cluster for the planner to plan on, described in TOML: how many ranks, how
// they group into hosts, each rank's speed and memory, and the links.
//
//   ranks = 64                 # at least 1
//   ranks_per_host = 8
//   speed = 4.0                # per-rank compute against the rank `cohort plan` profiles on
//   memory_gb = 80             # per rank; 0 = unbounded
//   overlap = 0.5              # fraction of the gradient allreduce hidden behind backward
//   [within_host]
//   gbytes_per_second = 100
//   latency_us = 5
//   [between_hosts]
//   gbytes_per_second = 12.5
//   latency_us = 20
#pragma once

#include <string>

#include "cohort/plan/cost_model.h"

namespace cohort {

// Unknown keys, values out of range, a missing or malformed file: InputError
// naming the file, line and key.
ClusterSpec load_cluster(const std::string& path);

}  // namespace cohort
