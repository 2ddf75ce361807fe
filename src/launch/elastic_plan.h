// Elastic membership (`cohort train --nproc MIN:MAX`): the pure decisions. A
// data-parallel job of R replicas (parallel.data) that loses a rank re-forms on
// fewer ranks, each playing R / ranks of the replicas in turn (gradient
// accumulation), so every step still averages the gradients of all R shards and
// the run follows the trajectory the full world would have; at its next
// checkpoint it stops so that the launcher can grow it back. A replica may span
// several ranks (P pipeline stages of T tensor-parallel slices each): the job
// then re-forms on a multiple of P x T ranks, each rank playing its part of
// R / (ranks / (P x T)) replicas (a pipeline stage as more micro-batches).
#pragma once

#include <map>
#include <string>

namespace cohort {

// The launcher tells each worker of a re-formed job how many ranks hold the
// replicas, and that the job is to stop at its next checkpoint to grow back.
inline constexpr const char* kElasticRanksVariable = "COHORT_ELASTIC_RANKS";
inline constexpr const char* kReformAtCheckpointVariable = "COHORT_REFORM_AT_CHECKPOINT";
// Where the members of a job planned by parallel.plan = "auto" train on the
// ranks it has now (format_member_ranks in cohort/member_layout.h).
inline constexpr const char* kMemberRanksVariable = "COHORT_MEMBER_RANKS";
// A worker that stopped at a checkpoint so the job can be re-formed exits with
// this (EX_TEMPFAIL): neither a success nor a failure to the launcher.
inline constexpr int kReformExitCode = 75;

struct RankRange {
  int min = 1, max = 1;
  bool elastic() const { return min < max; }
};

// "N" or "MIN:MAX" (1 <= MIN <= MAX); InputError naming --nproc otherwise.
RankRange parse_rank_range(const std::string& text);

// The ranks a job of `replicas`, each on `ranks_per_replica` ranks, re-forms on
// when `alive` ranks are left: the most that hold whole replicas dividing the
// replicas evenly (every rank plays as many), or 0 when that is fewer than `min`.
int reformed_ranks(int replicas, int alive, int min, int ranks_per_replica = 1);

// The planner's placement of the members on one number of ranks: the workers'
// kMemberRanksVariable, and what the launcher says of it.
struct PlannedPlacement {
  std::string member_ranks;
  std::string predicted;  // "predicted step 12.3 ms"
};

// What an elastic job's ranks hold: `replicas` data-parallel replicas of
// `ranks_per_replica` ranks each, which the ranks left share evenly; or
// (`members`) members with their own layouts (cohort/member_layout.h), each
// keeping its replicas, placed again over however many ranks are left: where
// `planned` holds that many, as the planner placed them.
struct ElasticShape {
  int replicas = 1;
  int ranks_per_replica = 1;
  bool members = false;
  std::map<int, PlannedPlacement> planned;
};

// reformed_ranks for either shape: members re-form on every rank left, as long
// as that is `min` or more (0 otherwise).
int reformed_ranks(const ElasticShape& shape, int alive, int min);

// What the re-formed ranks do, for the launcher's line: "each playing 2 of the 4
// replicas", "its members placed again over them" or "its members re-planned
// over them (predicted step 12.3 ms)".
std::string reformed_roles(const ElasticShape& shape, int ranks);

// How many replicas each of `ranks` plays; InputError when they do not divide.
int replicas_per_rank(int replicas, int ranks, int ranks_per_replica = 1);

}  // namespace cohort
