// Each network its own layout: `[[network]] data = D`, `pipeline = P` and
// `ranks = [...]` give a member its own replicas (each cut into P pipeline
// stages on P ranks) on its own ranks, instead of the `[parallel]` mesh every
// member shares. Members live on disjoint ranks or share ranks (those train
// them one after the other). Every member sees the same global batch of
// parallel.data x train.batch_size samples per step, split among its own D
// replicas (replica i takes rows i, i + D, i + 2D, ...: with D = parallel.data
// exactly the rows DDP gives rank i), so a member's trajectory does not depend
// on where it is placed. Pure: no processes.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "cohort/config.h"

namespace cohort {

class MemberLayouts {
 public:
  // ranks[k]: member k's ranks, data-major: replica i's stage s on
  // ranks[k][i * stages[k] + s]. `stages` empty: every member has one stage.
  MemberLayouts(std::vector<std::vector<int>> ranks, int world_size, std::vector<int> stages = {});

  size_t members() const { return ranks_.size(); }
  int world_size() const { return world_size_; }
  const std::vector<int>& ranks(size_t member) const { return ranks_[member]; }
  int stages(size_t member) const { return stages_[member]; }
  bool pipelined(size_t member) const { return stages_[member] > 1; }
  int replicas(size_t member) const { return int(ranks_[member].size()) / stages_[member]; }
  // The rank that reports, sends and broadcasts for the member: its replica 0
  // (its first stage, which gathers a pipelined member's whole network).
  int lead_rank(size_t member) const { return ranks_[member].front(); }
  // Which replica of `member` `rank` holds (a stage of), or -1 when none.
  int replica_on(size_t member, int rank) const;
  // Which stage of its replica `rank` holds, or -1 when none.
  int stage_on(size_t member, int rank) const;
  // The replica whose predictions `rank` computes (a whole network's, or a
  // pipeline's last stage's), or -1: the rows its logits cover.
  int logits_replica(size_t member, int rank) const;
  // Whether `rank` holds `member` whole: a replica of a member of one stage.
  bool whole_on(size_t member, int rank) const {
    return !pipelined(member) && replica_on(member, rank) >= 0;
  }
  // The members `rank` trains (a stage of), in config order.
  std::vector<size_t> trained_on(int rank) const;
  // The members `rank` holds whole, in config order.
  std::vector<size_t> whole_on(int rank) const;
  // Whether every member is trained whole on the same ranks: then every rank
  // trains every member on the same rows, and members have nothing to exchange.
  // (MemberExchange and the planner's cost of cooperation both ask this.)
  bool all_whole_on_same_ranks() const;
  // "rank 0: cnn0 (replica 0 of 2), mlp1; rank 1: ..." for the start-up message.
  std::string describe(const std::vector<std::string>& names) const;

 private:
  int position_on(size_t member, int rank) const;

  std::vector<std::vector<int>> ranks_;
  int world_size_;
  std::vector<int> stages_;
};

// Whether any [[network]] sets its own data, pipeline or ranks.
bool uses_member_layouts(const Config& config);

// Each member's ranks on a world of `world_size`: its own `ranks` where given,
// otherwise `data` (absent: parallel.data) x `pipeline` consecutive ranks from
// where the previous member's ended, wrapping around, so members fill the
// ranks in turn and small ones share them. InputError, one line naming the
// member, when a layout cannot be run: more replicas' stages than ranks, a
// rank outside the world or named twice, `ranks` that disagree with data x
// pipeline, a global batch the replicas cannot split evenly (or into
// parallel.micro_batches per pipelined replica), or a rank left with no member.
MemberLayouts place_members(const Config& config, int world_size);

// place_members' rule for members without their own ranks: member k on the
// replicas[k] ranks after the previous member's, wrapping around the world
// (a pipelined member's replicas x stages ranks).
std::vector<std::vector<int>> round_robin_ranks(const std::vector<int>& replicas, int world_size);

// "0,1;2;0": member k's ranks, members in config order, as the launcher of an
// elastic job planned by parallel.plan = "auto" hands its workers the planner's
// placement for the ranks there are (launch/elastic_plan.h).
std::string format_member_ranks(const std::vector<std::vector<int>>& ranks);

// The members placed where `text` (format_member_ranks) says, checked as
// place_members checks [[network]] ranks; InputError naming `source` when the
// text is malformed or names another number of members.
MemberLayouts place_members_as(const Config& config, int world_size, const std::string& text,
                               const std::string& source);

}  // namespace cohort
