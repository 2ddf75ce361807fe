#include "train/cohort/network_groups.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include "cohort/network_state.h"
#include "cohort/pbt.h"
#include "cohort/stale_peers.h"
#include "comm/message_tags.h"
#include "train/engines/stage_state.h"

namespace cohort {

std::vector<size_t> NetworkShare::owned_by(int group) const {
  std::vector<size_t> out;
  for (size_t k = size_t(group) * per_group(); k < size_t(group + 1) * per_group(); ++k)
    out.push_back(k);
  return out;
}

NetworkGroups::NetworkGroups(NetworkShare share, int group, int data_rank, CommunicatorPtr peers,
                             CommunicatorPtr replicas)
    : share_(share),
      group_(group),
      data_rank_(data_rank),
      peers_(std::move(peers)),
      replicas_(std::move(replicas)),
      owned_(share.owned_by(group)) {}

std::vector<at::Tensor> NetworkGroups::peer_logits(const std::vector<at::Tensor>& logits) {
  std::vector<at::Tensor> peers(logits.size());
  std::vector<at::Tensor> mine;
  for (size_t k : owned_) {
    peers[k] = logits[k].detach();
    mine.push_back(peers[k]);
  }
  if (!spread()) return peers;
  const at::Tensor packed = at::stack(mine).contiguous();
  bytes_sent_ += int64_t(packed.nbytes()) * (share_.groups - 1);  // to each other group
  const auto all = peers_->allgather(packed);
  for (int g = 0; g < share_.groups; ++g) {
    if (g == group_) continue;
    const auto networks = share_.owned_by(g);
    for (size_t i = 0; i < networks.size(); ++i) peers[networks[i]] = all[size_t(g)][int64_t(i)];
  }
  return peers;
}

void NetworkGroups::exchange_outcome(std::vector<double>& losses, std::vector<double>& accuracy) {
  if (!spread()) return;
  std::vector<double> mine;
  for (size_t k : owned_) {
    mine.push_back(losses[k]);
    mine.push_back(accuracy[k]);
  }
  const auto all = peers_->allgather(at::tensor(mine, at::kDouble));
  for (int g = 0; g < share_.groups; ++g) {
    const auto networks = share_.owned_by(g);
    const double* values = all[size_t(g)].data_ptr<double>();
    for (size_t i = 0; i < networks.size(); ++i) {
      losses[networks[i]] = values[2 * i];
      accuracy[networks[i]] = values[2 * i + 1];
    }
  }
}

void NetworkGroups::refresh_copies(std::vector<Network>& nets) {
  if (!spread()) return;
  // One broadcast per network from its group: architectures may differ, and
  // every rank knows each one's packed size from its own copy.
  for (size_t k = 0; k < nets.size(); ++k) {
    at::Tensor packed = pack_state(*nets[k].model);
    if (owns(k)) bytes_sent_ += int64_t(packed.nbytes()) * (share_.groups - 1);
    peers_->broadcast(packed, share_.owner(k));
    if (!owns(k)) unpack_state(packed, *nets[k].model);
  }
}

void NetworkGroups::copy_network(std::vector<Network>& nets, size_t member, size_t parent) {
  const int from = share_.owner(parent), to = share_.owner(member);
  Network& target = nets[member];
  if (from == to) {
    if (group_ == from)
      exploit(*nets[parent].model, *nets[parent].optimizer, *target.model, *target.optimizer);
    return;
  }
  if (group_ == from) {
    send_tensors(*peers_, capture_state(*nets[parent].model, *nets[parent].optimizer), to,
                 tags::kGroupExploit);
  } else if (group_ == to) {
    restore_state(
        *target.model, *target.optimizer, recv_tensors(*peers_, from, tags::kGroupExploit),
        fmt::format("network '{}' exploiting '{}'", target.config.name, nets[parent].config.name));
  }
}

void NetworkGroups::gather_to_leader(std::vector<Network>& nets) {
  if (!spread() || data_rank_ != 0) return;
  if (group_ != 0) {
    for (size_t k : owned_)
      send_tensors(*peers_, capture_state(*nets[k].model, *nets[k].optimizer), 0,
                   tags::kGroupGather);
    return;
  }
  for (int g = 1; g < share_.groups; ++g) {
    for (size_t k : share_.owned_by(g)) {
      restore_state(*nets[k].model, *nets[k].optimizer,
                    recv_tensors(*peers_, g, tags::kGroupGather),
                    fmt::format("network '{}' from group {}", nets[k].config.name, g));
    }
  }
}

}  // namespace cohort
