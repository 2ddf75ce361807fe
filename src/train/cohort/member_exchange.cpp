#include "train/cohort/member_exchange.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <algorithm>

#include "cohort/logit_routes.h"
#include "cohort/network_state.h"
#include "cohort/pbt.h"
#include "cohort/stale_peers.h"
#include "comm/message_tags.h"
#include "train/engines/stage_state.h"

namespace cohort {
namespace {

// What a ring allreduce of `bytes` sends from each of `ranks` ranks.
int64_t ring_allreduce_bytes(int64_t bytes, int ranks) {
  return ranks > 1 ? 2 * (ranks - 1) * bytes / ranks : 0;
}

}  // namespace

MemberExchange::MemberExchange(std::shared_ptr<const MemberLayouts> layouts, int rank,
                               CommunicatorPtr world, std::vector<CommunicatorPtr> groups,
                               int64_t batch_rows, c10::Device device)
    : layouts_(std::move(layouts)),
      rank_(rank),
      world_(std::move(world)),
      groups_(std::move(groups)),
      owned_(layouts_->whole_on(rank)),
      batch_rows_(batch_rows),
      rows_(layouts_->members()),
      // Members all on the same ranks train on the same rows everywhere: each
      // rank has its peers' logits already, and trains every network.
      spread_(world_ && !layouts_->all_whole_on_same_ranks()) {
  for (size_t k : layouts_->trained_on(rank)) {
    const int replicas = layouts_->replicas(k);
    if (replicas == 1) continue;
    rows_[k] = at::arange(layouts_->replica_on(k, rank_), batch_rows, replicas,
                          at::TensorOptions().dtype(at::kLong).device(device));
  }
  if (spread_) plan_routes(device);
}

void MemberExchange::plan_routes(c10::Device device) {
  const auto as_tensor = [device](const std::vector<int64_t>& rows) {
    return at::tensor(rows, at::kLong).to(device);
  };
  send_.resize(size_t(world_->size()));
  receive_.resize(size_t(world_->size()));
  for (int other = 0; other < world_->size(); ++other) {
    for (LogitRoute& route : logit_routes(*layouts_, rank_, other, batch_rows_)) {
      // Row g of this rank's replica i of D sits at position (g - i) / D.
      const int replica = layouts_->replica_on(route.member, rank_);
      for (int64_t& g : route.rows) g = (g - replica) / layouts_->replicas(route.member);
      send_[size_t(other)].push_back({route.member, as_tensor(route.rows)});
    }
    for (const LogitRoute& route : logit_routes(*layouts_, other, rank_, batch_rows_))
      receive_[size_t(other)].push_back({route.member, as_tensor(route.rows)});
  }
}

std::vector<std::vector<size_t>> MemberExchange::row_groups() const {
  std::vector<std::vector<size_t>> out;
  std::vector<std::pair<int, int>> keys;  // (replicas, replica) of each group
  for (size_t k : owned_) {
    const std::pair<int, int> key{layouts_->replicas(k), layouts_->replica_on(k, rank_)};
    const auto it = std::find(keys.begin(), keys.end(), key);
    if (it != keys.end()) {
      out[size_t(it - keys.begin())].push_back(k);
      continue;
    }
    keys.push_back(key);
    out.push_back({k});
  }
  return out;
}

at::Tensor MemberExchange::pack_for(int to, const std::vector<at::Tensor>& logits,
                                    const std::vector<bool>& among) const {
  std::vector<at::Tensor> parts;
  for (const Route& route : send_[size_t(to)])
    if (among[route.member])
      parts.push_back(logits[route.member].detach().index_select(0, route.rows).reshape(-1));
  return parts.empty() ? at::Tensor() : at::cat(parts);
}

std::vector<at::Tensor> MemberExchange::peer_logits(const std::vector<at::Tensor>& logits) {
  return peer_logits_of(logits, std::vector<bool>(logits.size(), true), {});
}

std::vector<at::Tensor> MemberExchange::peer_logits_of(const std::vector<at::Tensor>& logits,
                                                       const std::vector<bool>& among,
                                                       const at::Tensor& like) {
  std::vector<at::Tensor> peers(logits.size());
  if (!spread_) {
    for (size_t k : owned_)
      if (among[k]) peers[k] = logits[k].detach();
    return peers;
  }
  at::Tensor any = like;
  for (const at::Tensor& t : logits)
    if (t.defined()) any = t;
  if (!any.defined()) return peers;  // this rank computes no loss: it needs no peers
  auto shape = any.sizes().vec();
  shape[0] = batch_rows_;
  shape.insert(shape.begin(), int64_t(logits.size()));
  // Rows no member here trains on stay zero: nothing reads them.
  at::Tensor all = at::zeros(shape, any.options().requires_grad(false));
  for (size_t k = 0; k < logits.size(); ++k) {
    if (!among[k] || !logits[k].defined()) continue;
    if (rows_[k].defined())
      all[int64_t(k)].index_copy_(0, rows_[k], logits[k].detach());
    else
      all[int64_t(k)].copy_(logits[k].detach());
  }
  int64_t row_numel = 1;
  for (size_t d = 1; d < any.sizes().size(); ++d) row_numel *= any.size(int64_t(d));
  const size_t n = size_t(world_->size());
  std::vector<std::vector<at::Tensor>> outgoing(n), incoming(n);
  std::vector<CommHandle> pending;
  for (size_t other = 0; other < n; ++other) {
    int64_t rows = 0;
    for (const Route& route : receive_[other])
      if (among[route.member]) rows += route.rows.numel();
    if (rows == 0) continue;
    incoming[other] = {at::empty({rows * row_numel}, all.options())};
    pending.push_back(world_->recv_async(incoming[other], int(other), tags::kMemberLogits));
  }
  for (size_t other = 0; other < n; ++other) {
    at::Tensor packed = pack_for(int(other), logits, among);
    if (!packed.defined()) continue;
    outgoing[other] = {packed};
    bytes_sent_ += int64_t(packed.nbytes());
    pending.push_back(world_->send_async(outgoing[other], int(other), tags::kMemberLogits));
  }
  for (CommHandle& handle : pending) handle.wait();
  auto row_shape = any.sizes().vec();  // one member's logits on some rows
  for (size_t other = 0; other < n; ++other) {
    int64_t offset = 0;
    for (const Route& route : receive_[other]) {
      if (!among[route.member]) continue;
      row_shape[0] = route.rows.numel();
      const int64_t count = route.rows.numel() * row_numel;
      all[int64_t(route.member)].index_copy_(
          0, route.rows, incoming[other][0].narrow(0, offset, count).view(row_shape));
      offset += count;
    }
  }
  for (size_t k = 0; k < logits.size(); ++k)
    if (among[k]) peers[k] = all[int64_t(k)];
  return peers;
}

void MemberExchange::exchange_outcome(std::vector<double>& losses, std::vector<double>& accuracy) {
  if (!world_) return;
  const size_t n = losses.size();
  std::vector<double> led(2 * n, 0.0);
  for (size_t k = 0; k < n; ++k) {
    if (!leads(k)) continue;
    led[k] = losses[k];
    led[n + k] = accuracy[k];
  }
  at::Tensor sums = at::tensor(led, at::kDouble);
  world_->allreduce(sums);
  bytes_sent_ += ring_allreduce_bytes(int64_t(sums.nbytes()), world_->size());
  const double* v = sums.data_ptr<double>();
  for (size_t k = 0; k < n; ++k) {
    losses[k] = v[k];
    accuracy[k] = v[n + k];
  }
}

void MemberExchange::refresh_copies(std::vector<Network>& nets) {
  if (!spread_) return;
  // One broadcast per member from its lead rank: architectures may differ, and
  // every rank knows each one's packed size from its own copy.
  for (size_t k = 0; k < nets.size(); ++k) {
    at::Tensor packed = pack_state(*nets[k].model);
    if (leads(k)) bytes_sent_ += int64_t(packed.nbytes()) * (world_->size() - 1);
    world_->broadcast(packed, layouts_->lead_rank(k));
    // A pipelined member's other stages take it too: their copy holds only
    // their own stage's layers up to date.
    if (!holds_whole(k, rank_)) unpack_state(packed, *nets[k].model);
  }
}

// Every replica of `member` takes the parent's state: locally where it also
// trains the parent (its replicas are identical), else from the parent's lead.
void MemberExchange::copy_network(std::vector<Network>& nets, size_t member, size_t parent) {
  Network& target = nets[member];
  const int source = layouts_->lead_rank(parent);
  for (int to : layouts_->ranks(member)) {
    if (layouts_->replica_on(parent, to) >= 0) {
      if (to == rank_)
        exploit(*nets[parent].model, *nets[parent].optimizer, *target.model, *target.optimizer);
      continue;
    }
    if (rank_ == source) {
      const NamedTensors state = capture_state(*nets[parent].model, *nets[parent].optimizer);
      send_tensors(*world_, state, to, tags::kMemberExploit);
    } else if (rank_ == to) {
      restore_state(*target.model, *target.optimizer,
                    recv_tensors(*world_, source, tags::kMemberExploit),
                    fmt::format("network '{}' exploiting '{}'", target.config.name,
                                nets[parent].config.name));
    }
  }
}

void MemberExchange::gather_to_leader(std::vector<Network>& nets) {
  if (!world_) return;
  for (size_t k = 0; k < nets.size(); ++k) {
    if (holds_whole(k, 0)) continue;
    const int source = layouts_->lead_rank(k);
    if (rank_ == source) {
      send_tensors(*world_, capture_state(*nets[k].model, *nets[k].optimizer), 0,
                   tags::kMemberGather);
    } else if (rank_ == 0) {
      restore_state(*nets[k].model, *nets[k].optimizer,
                    recv_tensors(*world_, source, tags::kMemberGather),
                    fmt::format("network '{}' from rank {}", nets[k].config.name, source));
    }
  }
}

}  // namespace cohort
