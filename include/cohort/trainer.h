// The training loop: K networks (one for a plain run) see the same batches in the
// same order; each step every network does forward, loss, backward, optimiser
// step. Evaluation on the test split after every epoch; checkpoints by steps, by
// time and at every epoch's end; metrics.jsonl and a summary.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "cohort/config.h"
#include "cohort/task.h"

namespace cohort {

struct RunOptions {
  std::string run_dir;     // created if missing; must be writable
  bool resume = false;     // continue from run_dir's newest checkpoint
  bool progress = true;    // progress display on stderr
  bool overwrite = false;  // a new run may replace the run run_dir holds (else InputError)
};

struct NetworkResult {
  std::string name;
  std::string model;
  double test_accuracy = 0;  // classification only
  double test_loss = 0;      // the task's: cross-entropy, or mean squared error for regression
  bool control = false;      // network.N.cooperate = false: trained alone, beside the cohort
};

// Parameter servers (parallel.mode = "async"): what the servers saw.
struct AsyncSummary {
  int64_t pushes = 0;    // gradients applied, over all servers
  int64_t max_lead = 0;  // the most steps any worker ran ahead of the slowest
  int64_t staleness_bound = -1;
  std::vector<int> lost_workers;  // workers that died; the others finished the run
};

// What one network's training state takes on the leader between steps, in
// bytes: with parallel.shard the gradients (2) and optimiser state (1 and 2)
// are this rank's share, with parallel.tensor this rank's slices.
// `activations`: what its forward left held for backward (saved tensors and
// logits) on the metered step (the run's second), as the allocator reported it
// (-1 where a profiler was listening instead).
struct NetworkMemory {
  std::string name;
  int64_t parameters = 0;
  int64_t gradients = 0;
  int64_t optimizer = 0;
  int64_t activations = 0;
};

struct RunSummary {
  Task task = Task::Classification;  // the data's: what the results' scores are
  std::vector<NetworkResult> networks;
  std::optional<NetworkResult> ensemble;  // when more than one network
  int64_t steps = 0;
  double samples_per_sec = 0;  // training samples drawn per second (each seen by every network)
  double wall_seconds = 0;
  std::string run_dir;
  bool leader = true;  // rank 0: the process that wrote the run folder
  std::optional<AsyncSummary> async;
  // The networks this rank trains (ReplicaEngine only); "state_bytes" in the JSON.
  std::vector<NetworkMemory> memory;
  // Per rank, the most bytes the metered step's own allocations held at once
  // (activations, gradients, temporaries: observe/allocation_meter.h); -1
  // where a profiler was listening instead.
  std::vector<int64_t> step_peak_bytes;
  std::string to_json() const;
  // The result for a person: one line per network, the ensemble and what it
  // gained over the best network, throughput and where the run folder is.
  std::string describe() const;
};

// Checks, before any process starts or joins, that the config can be trained by
// `world_size` processes: the cooperative method has its networks, the layout
// data x pipeline fits the world, a pipelined network has at least one layer
// per stage and one sample per micro-batch. InputError saying how to fix it.
void check_training_plan(const Config& config, int world_size);

RunSummary train(const Config& config, const RunOptions& options);

}  // namespace cohort
