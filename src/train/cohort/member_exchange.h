// The exchanges of members with their own layouts (cohort/member_layout.h),
// over the world group. Member k's replica i trains on rows i, i + D, ... of
// the global batch; its first replica (its lead rank) speaks for it: reports
// its loss, broadcasts its weights, sends its state. Mutual learning sends each
// rank the peers' logits on the rows its own members train on and nothing else
// (cohort/logit_routes.h), point to point, all messages of a step in flight at
// once. A pipelined member is trained here only in part (a stage): it is not
// among owned(), its logits exist on its last stages, and its lead takes the
// whole network from the stages before it sends or saves it.
#pragma once

#include <c10/core/Device.h>

#include <memory>
#include <vector>

#include "cohort/member_layout.h"
#include "train/cohort/network_exchange.h"

namespace cohort {

class MemberExchange : public NetworkExchange {
 public:
  // `world`: null in a one-process job. `groups[k]`: member k's replicas (null
  // where this rank does not train it or it has one replica). `batch_rows`: the
  // global batch's rows; the row indices live on `device`.
  MemberExchange(std::shared_ptr<const MemberLayouts> layouts, int rank, CommunicatorPtr world,
                 std::vector<CommunicatorPtr> groups, int64_t batch_rows, c10::Device device);

  const std::vector<size_t>& owned() const override { return owned_; }
  bool spread() const override { return spread_; }
  CommunicatorPtr replica_group(size_t k) const override { return groups_[k]; }
  at::Tensor rows(size_t k) const override { return rows_[k]; }
  std::vector<std::vector<size_t>> row_groups() const override;

  std::vector<at::Tensor> peer_logits(const std::vector<at::Tensor>& logits) override;
  // The same for the members marked in `among` alone: where a pipeline's
  // predictions exist only after its step, the exchange runs once before it
  // (the other members') and once after (the pipelines'). `like`: a tensor of
  // the logits' dtype and row shape, for a rank that computes none itself.
  std::vector<at::Tensor> peer_logits_of(const std::vector<at::Tensor>& logits,
                                         const std::vector<bool>& among, const at::Tensor& like);
  void exchange_outcome(std::vector<double>& losses, std::vector<double>& accuracy) override;
  void refresh_copies(std::vector<Network>& nets) override;
  void copy_network(std::vector<Network>& nets, size_t member, size_t parent) override;
  void gather_to_leader(std::vector<Network>& nets) override;

 private:
  bool trains(size_t k) const { return layouts_->replica_on(k, rank_) >= 0; }
  // Whether `rank` holds member k's whole network when it sends or saves it.
  bool holds_whole(size_t k, int rank) const {
    return layouts_->whole_on(k, rank) || layouts_->lead_rank(k) == rank;
  }
  bool leads(size_t k) const { return layouts_->lead_rank(k) == rank_; }
  void plan_routes(c10::Device device);
  at::Tensor pack_for(int to, const std::vector<at::Tensor>& logits,
                      const std::vector<bool>& among) const;

  std::shared_ptr<const MemberLayouts> layouts_;
  int rank_;
  CommunicatorPtr world_;
  std::vector<CommunicatorPtr> groups_;
  std::vector<size_t> owned_;
  int64_t batch_rows_;
  // Per member with several replicas whose replica this rank trains (a stage
  // of), else undefined.
  std::vector<at::Tensor> rows_;
  // Per other rank: each owned member's logits to send it, as positions in this
  // rank's rows; and each member's logits to receive from it, as global rows.
  struct Route {
    size_t member;
    at::Tensor rows;
  };
  std::vector<std::vector<Route>> send_;
  std::vector<std::vector<Route>> receive_;
  bool spread_ = false;
};

}  // namespace cohort
