// The planner's cost model: what one training step of one cohort member costs
// under a layout (data x pipeline degrees) on a cluster. Pure arithmetic on
// measured or given costs, no processes, so plans are tested on cost tables.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cohort/logit_routes.h"

namespace cohort {

// One member of the cohort as profiled on one rank (plan/profile.h), or as given.
// Per-layer vectors cover the model's top-level layers, the units a pipeline cuts.
struct MemberCost {
  std::string name;
  std::vector<double> layer_seconds;  // forward + backward, per sample
  // Per layer, forward + backward time per call whatever its batch (dispatch,
  // kernel set-up): half a batch costs more than half as much. Empty: none.
  std::vector<double> layer_call_seconds;
  std::vector<double> layer_output_bytes;     // activation leaving each layer, per sample
  std::vector<double> layer_parameter_bytes;  // also each layer's gradient bytes
  double optimizer_state_factor = 1;          // state bytes per parameter byte (momentum 1, Adam 2)
  double step_overhead_seconds = 0;           // per step and rank whatever the batch (optimiser)
  // The forward alone, without autograd's record, per sample (codistillation's
  // stale copies). 0: not measured, taken as a third of seconds_per_sample().
  double inference_seconds = 0;
  double total_parameter_bytes() const;
  double seconds_per_sample() const;
  double inference_seconds_per_sample() const;
  double logit_bytes_per_sample() const;  // the last layer's output
};

struct Link {
  double bytes_per_second = 1e9;
  double latency_seconds = 50e-6;
};

// How the members learn from each other, as far as the step's cost goes
// (cooperate.method): not at all (ensembles, PBT between its rounds), from the
// peers' logits every step (mutual learning), or from stale copies of the
// peers, refreshed with their weights every `every` steps (codistillation).
struct Cooperation {
  enum class Kind { none, logits, stale_copies };
  Kind kind = Kind::none;
  int64_t every = 1;
};

// Splits each layer's measured time at two batch sizes into a time per call
// and a time per sample (an affine fit through the two points) into `member`.
// A layer whose small batch took as long as the large one or longer (noise)
// keeps all of its time per sample.
void fit_layer_times(const std::vector<double>& large_seconds, double large_rows,
                     const std::vector<double>& small_seconds, double small_rows,
                     MemberCost& member);

// The link whose ring allreduce over `ranks` takes the times measured: the
// latency from a small allreduce, the bandwidth from a large one (the inverse
// of estimate_step's ring model). InputError when the large one was not the
// slower by more than the small one's latency (a measurement to repeat).
Link link_from_allreduces(int ranks, double small_bytes, double small_seconds, double large_bytes,
                          double large_seconds);

// Where the cohort runs: ranks in hosts of ranks_per_host consecutive ranks.
struct ClusterSpec {
  int ranks = 1;
  int ranks_per_host = 1;
  double speed = 1;         // per-rank compute against the rank that was profiled
  double memory_bytes = 0;  // per rank; 0 = unbounded
  double overlap = 0;       // fraction of gradient allreduce hidden behind backward
  // The cores a host's ranks share (each rank's threads counted), 0 = a core
  // group per rank. Where a host's busy ranks outnumber them, they time-share:
  // evaluate_plan's step is then at least their work over the cores.
  int cores_per_host = 0;
  Link within_host, between_hosts;
};

// One member's layout: `data` replicas of a `pipeline`-stage pipeline over
// micro_batches micro-batches (1 when pipeline is 1).
struct Layout {
  int data = 1;
  int pipeline = 1;
  int micro_batches = 1;
  int ranks() const { return data * pipeline; }
};

struct StepEstimate {
  double compute_seconds = 0;  // forward, backward and the optimiser, with the pipeline bubble
  double pipeline_transfer_seconds = 0;  // activations and their gradients between stages
  double allreduce_seconds = 0;          // gradients between replicas, after overlap
  double step_seconds = 0;               // the sum: one step on each of the member's ranks
  double memory_bytes = 0;               // the fullest rank: state and peak activations
};

// Whether `layout` can train `member` with `global_batch` samples per step:
// the batch splits evenly into replicas and micro-batches, and no stage is empty.
bool layout_valid(const MemberCost& member, const Layout& layout, int64_t global_batch);

// One step's cost under `layout`; `link` joins the member's ranks (within one
// host or across hosts). Stages are cut by balance_costs over layer_seconds.
// A stage's slot costs its layers' call times plus their per-sample times for
// a micro-batch's rows. The pipeline follows 1F1B: (M + P - 1) slots of the
// slowest stage, each with
// one activation and one gradient transfer over the widest cut, and min(M, P)
// micro-batches of activations held. The allreduce is a ring over the replicas
// of each stage: 2 (D - 1) / D of the stage's gradient bytes plus 2 (D - 1)
// latencies, of which `overlap` is hidden behind backward.
StepEstimate estimate_step(const MemberCost& member, const Layout& layout,
                           const ClusterSpec& cluster, const Link& link, int64_t global_batch);

// What learning from each other adds to each rank's step when the members do
// not all train on the same ranks (when they do, every rank has every logit and
// weight itself: 0). Left out: the allreduce of a few numbers that reports every
// multi-rank step's losses, whatever the layout.
//
// Mutual learning: each rank receives its peers' logits on the rows its members
// train on, point to point (cohort/logit_routes.h), `traffic` counted on the
// ranks that compute each member's logits (its last stages). The busiest rank's
// sends or receives, whichever are more (links are full duplex), plus one latency
// per rank it hears from.
double logit_exchange_seconds(const std::vector<MemberCost>& members, const LogitTraffic& traffic,
                              const Link& link);

// Codistillation: each member's weights broadcast from its first rank to the
// others of `ranks`, a 1/every share per step. 0 for other kinds of cooperation.
double weight_exchange_seconds(const std::vector<MemberCost>& members,
                               const Cooperation& cooperation, int ranks, const Link& link);

// Codistillation's forwards of every member's stale copy on `rows` samples:
// once per step for each set of rows a rank trains members on. 0 otherwise.
double stale_copy_seconds(const std::vector<MemberCost>& members, const Cooperation& cooperation,
                          double rows, const ClusterSpec& cluster);

}  // namespace cohort
