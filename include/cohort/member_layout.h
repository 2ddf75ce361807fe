// Each network its own layout: `[[network]] data = D` and `ranks = [...]` give a
// member its own replicas on its own ranks, instead of the `[parallel]` mesh
// every member shares. Members live on disjoint ranks or share ranks (those
// train them one after the other). Every member sees the same global batch of
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
  // ranks[k]: member k's ranks, replica i on ranks[k][i].
  MemberLayouts(std::vector<std::vector<int>> ranks, int world_size);

  size_t members() const { return ranks_.size(); }
  int world_size() const { return world_size_; }
  const std::vector<int>& ranks(size_t member) const { return ranks_[member]; }
  int replicas(size_t member) const { return int(ranks_[member].size()); }
  // The rank that reports, sends and broadcasts for the member: its replica 0.
  int lead_rank(size_t member) const { return ranks_[member].front(); }
  // Which replica of `member` `rank` holds, or -1 when it does not train it.
  int replica_on(size_t member, int rank) const;
  // The members `rank` trains, in config order.
  std::vector<size_t> trained_on(int rank) const;
  // "rank 0: cnn0 (replica 0 of 2), mlp1; rank 1: ..." for the start-up message.
  std::string describe(const std::vector<std::string>& names) const;

 private:
  std::vector<std::vector<int>> ranks_;
  int world_size_;
};

// Whether any [[network]] sets its own data, pipeline or ranks.
bool uses_member_layouts(const Config& config);

// Each member's ranks on a world of `world_size`: its own `ranks` where given,
// otherwise `data` (absent: parallel.data) consecutive ranks from where the
// previous member's ended, wrapping around, so members fill the ranks in turn
// and small ones share them. InputError, one line naming the member, when a
// layout cannot be run: more replicas than ranks, a rank outside the world or
// named twice, `ranks` and `data` that disagree, a global batch the replicas
// cannot split evenly, a pipelined member, or a rank left with no member.
MemberLayouts place_members(const Config& config, int world_size);

// place_members' rule for members without their own ranks: member k on the
// replicas[k] ranks after the previous member's, wrapping around the world.
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
