// Networks of a cohort on their own ranks. With parallel.network = G the ranks
// are split along the mesh's "network" dimension into G groups and group g
// trains networks [g*K/G, (g+1)*K/G); along "data" each group replicates them.
// Ranks of one data coordinate see the same batches, so cooperating networks
// see the same samples in the same order wherever they live; they exchange
// (network_exchange.h) with the ranks of their data coordinate in the other
// groups: logits by allgather, weights by broadcasts, states point to point.
#pragma once

#include <ATen/core/Tensor.h>

#include <vector>

#include "cohort/comm.h"
#include "train/cohort/network_exchange.h"
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

class NetworkGroups : public NetworkExchange {
 public:
  // `peers`: the ranks of this data coordinate along "network" (one per group,
  // ordered by group); null when there is one group. `replicas`: this group's
  // replicas of this stage (null: one).
  NetworkGroups(NetworkShare share, int group, int data_rank, CommunicatorPtr peers,
                CommunicatorPtr replicas);

  bool spread() const override { return share_.groups > 1; }
  const std::vector<size_t>& owned() const override { return owned_; }
  bool owns(size_t network) const { return share_.owner(network) == group_; }
  CommunicatorPtr replica_group(size_t) const override { return replicas_; }

  std::vector<at::Tensor> peer_logits(const std::vector<at::Tensor>& logits) override;
  void exchange_outcome(std::vector<double>& losses, std::vector<double>& accuracy) override;
  void refresh_copies(std::vector<Network>& nets) override;
  void copy_network(std::vector<Network>& nets, size_t member, size_t parent) override;
  void gather_to_leader(std::vector<Network>& nets) override;

 private:
  NetworkShare share_;
  int group_;
  int data_rank_;
  CommunicatorPtr peers_;
  CommunicatorPtr replicas_;
  std::vector<size_t> owned_;
};

}  // namespace cohort
