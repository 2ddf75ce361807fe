// Where a cohort's networks train, and what ranks exchange because of it. Every
// rank holds all K networks (same seeds, same checkpoint); the ones it does not
// train are copies that the exchanges keep exactly as fresh as the cooperative
// method needs, and no fresher:
//   mutual learning   every network's logits on the batch, every step
//   codistillation   the weights, when the stale copies are refreshed
//   PBT              an exploited member takes its parent's state
//   evaluation/save  the leader takes every network's state
// Two placements implement it: network groups on the shared mesh
// (network_groups.h) and members with their own layouts (member_exchange.h).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <utility>
#include <vector>

#include "cohort/comm.h"
#include "train/networks/network.h"

namespace cohort {

class NetworkExchange {
 public:
  virtual ~NetworkExchange() = default;

  // The networks this rank trains, in config order.
  virtual const std::vector<size_t>& owned() const = 0;
  // Whether some networks are trained on other ranks: the exchanges then move data.
  virtual bool spread() const = 0;
  // The replicas of network k that average its gradients (null: one replica).
  virtual CommunicatorPtr replica_group(size_t k) const = 0;
  // The rows of this rank's batch network k trains on here; undefined: all.
  virtual at::Tensor rows(size_t /*k*/) const { return {}; }
  // The owned networks grouped by the rows they train on here, in config order.
  virtual std::vector<std::vector<size_t>> row_groups() const { return {owned()}; }

  // Mutual learning: `logits` holds the owned networks' logits on their rows
  // (others undefined). Returns every network's logits on the whole batch,
  // detached: the peers' predictions.
  virtual std::vector<at::Tensor> peer_logits(const std::vector<at::Tensor>& logits) = 0;
  // Every network's loss and accuracy on the step, as its trainers (its first
  // replica) measured them.
  virtual void exchange_outcome(std::vector<double>& losses, std::vector<double>& accuracy) = 0;
  // Codistillation: every copy takes its network's current weights and buffers.
  virtual void refresh_copies(std::vector<Network>& nets) = 0;
  // PBT's exploit: `member` becomes its parent's copy (weights, buffers,
  // optimiser state) wherever the two are trained.
  virtual void copy_network(std::vector<Network>& nets, size_t member, size_t parent) = 0;
  // Collective: the leader's copies become the trained networks, optimiser
  // state included, before it evaluates or saves them.
  virtual void gather_to_leader(std::vector<Network>& nets) = 0;

  // Bytes this rank sent in the exchanges since the previous call.
  int64_t take_bytes_sent() { return std::exchange(bytes_sent_, 0); }

 protected:
  int64_t bytes_sent_ = 0;
};

}  // namespace cohort
