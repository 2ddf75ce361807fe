// The Communicator over one c10d process group (Gloo on CPU; NCCL when built
// with CUDA). The store it was rendezvoused on is kept so that sub-groups can be
// created later and so that a timed-out rank can ask which peers never arrived.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <torch/csrc/distributed/c10d/Backend.hpp>
#include <torch/csrc/distributed/c10d/Store.hpp>

#include "cohort/comm.h"

namespace cohort {

// One group's c10d backends, by the device of the tensors they move: Gloo for
// CPU tensors always (every group's small control traffic: headers, counts,
// losses), NCCL for CUDA tensors in CUDA runs (gradients, activations). The
// same split as torch.distributed's "cpu:gloo,cuda:nccl"; c10d::ProcessGroup
// would dispatch the same way, but it adds nothing we use.
struct GroupBackends {
  c10::intrusive_ptr<c10d::Backend> cpu;
  c10::intrusive_ptr<c10d::Backend> cuda;  // null: CUDA tensors are refused
};

// Makes the backends for `ranks` (global) on a store already prefixed for this
// group; called only on members.
using ProcessGroupFactory = std::function<GroupBackends(
    c10::intrusive_ptr<c10d::Store> store, int rank, int size, std::chrono::milliseconds timeout)>;

// The job's store, unprefixed by group, where every rank published the address
// it communicates from ("hosts/<global rank>"), and where the store is served
// ("host 10.0.0.1", "file /shared/rdzv"):
// what a rank that timed out names when it tells which peers were lost.
struct JobDirectory {
  c10::intrusive_ptr<c10d::Store> store;
  std::string store_host;
};

class ProcessGroupCommunicator : public Communicator {
 public:
  // Blocks until every member has joined (or the timeout passes).
  ProcessGroupCommunicator(std::string name, std::vector<int> global_ranks, int my_global_rank,
                           c10::intrusive_ptr<c10d::Store> store, ProcessGroupFactory factory,
                           std::chrono::milliseconds timeout,
                           std::shared_ptr<const JobDirectory> directory = nullptr);

  int rank() const override { return rank_; }
  int size() const override { return static_cast<int>(ranks_.size()); }
  const std::string& name() const override { return name_; }
  std::chrono::milliseconds timeout() const override { return timeout_; }
  int global_rank(int group_rank) const override;

  CommHandle allreduce_async(std::vector<at::Tensor>& tensors, ReduceOp op) override;
  CommHandle broadcast_async(std::vector<at::Tensor>& tensors, int root) override;
  CommHandle allgather_async(std::vector<at::Tensor>& output, at::Tensor& input) override;
  CommHandle reduce_scatter_async(at::Tensor& output, std::vector<at::Tensor>& input,
                                  ReduceOp op) override;
  CommHandle send_async(std::vector<at::Tensor>& tensors, int dst, int tag) override;
  CommHandle recv_async(std::vector<at::Tensor>& tensors, int src, int tag) override;
  void barrier() override;
  std::shared_ptr<Communicator> new_group(const std::vector<int>& ranks, const std::string& name,
                                          std::chrono::milliseconds timeout) override;

 private:
  // Starts `op` and wraps its Work; backend errors at issue time are named too.
  CommHandle start(const std::string& op,
                   const std::function<c10::intrusive_ptr<c10d::Work>()>& issue,
                   std::function<void()> finish = {});
  // Which group ranks did not report reaching collective `sequence` (see .cpp).
  std::string missing_ranks(uint64_t sequence);
  void check_peer(int peer, const char* what) const;
  CommHandle reduce_scatter_nccl(at::Tensor& output, std::vector<at::Tensor>& input, ReduceOp op);
  // The backend for these tensors' device; InputError for CUDA tensors on a
  // group without NCCL, or tensors on two kinds of device.
  c10d::Backend& backend_for(const std::vector<at::Tensor>& tensors, const std::string& op) const;

  std::string name_;
  std::vector<int> ranks_;
  int global_rank_ = -1;
  int rank_ = -1;
  c10::intrusive_ptr<c10d::Store> store_;
  std::shared_ptr<const JobDirectory> directory_;
  ProcessGroupFactory factory_;
  std::chrono::milliseconds timeout_;
  GroupBackends backends_;
  std::atomic<uint64_t> sequence_{0};  // parameter servers receive on several threads
  uint64_t groups_created_ = 0;
};

}  // namespace cohort
