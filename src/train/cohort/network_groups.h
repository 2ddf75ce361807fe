// Networks of a cohort on their own ranks. With parallel.network = G the ranks
// are split along the mesh's "network" dimension into G groups and group g
// trains networks [g*K/G, (g+1)*K/G); along "data" each group replicates them.
// Ranks of one data coordinate see the same batches, so cooperating networks
// see the same samples in the same order wherever they live.
//
// Every rank still holds all K networks (same seeds, same checkpoint): the ones
// it does not train are copies that the exchanges below keep exactly as fresh as
// the cooperative method needs, and no fresher:
//   mutual learning   every network's logits on the batch, every step (allgather)
//   codistillation   the weights, when the stale copies are refreshed (broadcasts)
//   PBT              an exploited member takes its parent's state (point to point)
//   evaluation/save  the leader takes every network's state (point to point)
#pragma once

#include <ATen/core/Tensor.h>

#include <vector>

#include "cohort/comm.h"
#include "train/networks/network.h"

namespace cohort {

// Which group trains which network: pure, unit tested.
struct NetworkShare {
  int groups = 1;
  size_t networks = 1;  // a multiple of groups (check_training_plan)

  size_t per_group() const { return networks / size_t(groups); }
  int owner(size_t network) const { return int(network / per_group()); }
  std::vector<size_t> owned_by(int group) const;
};

class NetworkGroups {
 public:
  // `peers`: the ranks of this data coordinate along "network" (one per group,
  // ordered by group); null when there is one group.
  NetworkGroups(NetworkShare share, int group, int data_rank, CommunicatorPtr peers);

  bool spread() const { return share_.groups > 1; }
  const std::vector<size_t>& owned() const { return owned_; }
  bool owns(size_t network) const { return share_.owner(network) == group_; }

  // Mutual learning: `logits` holds this group's networks' logits on the batch
  // (others undefined); fills in every other network's, detached.
  void exchange_logits(std::vector<at::Tensor>& logits);
  // Every network's loss and accuracy on the step, from the groups that trained them.
  void exchange_outcome(std::vector<double>& losses, std::vector<double>& accuracy);
  // Codistillation: every copy takes its network's current weights and buffers.
  void refresh_copies(std::vector<Network>& nets);
  // PBT's exploit across groups: `member` becomes its parent's copy (weights,
  // buffers, optimiser state) wherever the two are trained.
  void copy_network(std::vector<Network>& nets, size_t member, size_t parent);
  // Collective over all groups: the leader's copies become the trained networks,
  // optimiser state included, before it evaluates or saves them.
  void gather_to_leader(std::vector<Network>& nets);

 private:
  NetworkShare share_;
  int group_;
  int data_rank_;
  CommunicatorPtr peers_;
  std::vector<size_t> owned_;
};

}  // namespace cohort
