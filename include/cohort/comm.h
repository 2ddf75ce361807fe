// The communication layer: the one interface the rest of Cohort uses to talk to
// other ranks. Implemented over c10d process groups (Gloo on CPU, NCCL on CUDA);
// only src/comm/ includes c10d headers.
#pragma once

#include <ATen/core/Tensor.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace cohort {

enum class ReduceOp { Sum, Average, Max, Min };

// An operation in flight. wait() blocks until it completes or the group's timeout
// passes; a timeout raises TimeoutError naming the operation, the group and the
// ranks that did not answer (where the backend can tell).
class CommHandle {
 public:
  class Impl;
  CommHandle() = default;
  explicit CommHandle(std::shared_ptr<Impl> impl);
  void wait();
  // Polls for completion for up to `poll_first` (never past the group's
  // timeout), yielding the core between polls, then blocks as wait() does. For
  // a thread with nothing else to do while a short collective finishes: a
  // thread that blocks at once sleeps, and on virtual machines whose idle cores
  // halt, waking it (and the backend's threads) costs more than moving a
  // megabyte over loopback (docs/benchmarks/ddp.md measures it).
  void wait(std::chrono::microseconds poll_first);
  bool completed() const;
  bool valid() const { return impl_ != nullptr; }

 private:
  std::shared_ptr<Impl> impl_;
};

// A group of ranks. Ranks are numbered within the group (0..size()-1);
// global_rank() maps back to the world.
class Communicator {
 public:
  virtual ~Communicator() = default;

  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual const std::string& name() const = 0;
  virtual std::chrono::milliseconds timeout() const = 0;
  virtual int global_rank(int group_rank) const = 0;

  // Collectives work in place on the given tensors; *_async return a handle that
  // must be waited on before the tensors are read or written.
  virtual CommHandle allreduce_async(std::vector<at::Tensor>& tensors, ReduceOp op) = 0;
  virtual CommHandle broadcast_async(std::vector<at::Tensor>& tensors, int root) = 0;
  // output[i] receives rank i's input; shapes must match on every rank.
  virtual CommHandle allgather_async(std::vector<at::Tensor>& output, at::Tensor& input) = 0;
  // input[i] is reduced across ranks and rank i receives it in output. Gloo has
  // no reduce-scatter: implementations may fall back to allreduce, in place
  // where the inputs lie end to end in one buffer, so the inputs' contents are
  // undefined afterwards.
  virtual CommHandle reduce_scatter_async(at::Tensor& output, std::vector<at::Tensor>& input,
                                          ReduceOp op) = 0;
  virtual CommHandle send_async(std::vector<at::Tensor>& tensors, int dst, int tag) = 0;
  virtual CommHandle recv_async(std::vector<at::Tensor>& tensors, int src, int tag) = 0;
  virtual void barrier() = 0;

  // A sub-group of this group's ranks (given as global ranks, in group-rank
  // order). Every rank of this group must call new_group with the same arguments
  // in the same order (the groups meet through the shared store); ranks outside
  // `ranks` get nullptr. `name` appears in error messages. A zero `timeout`
  // keeps this group's timeout.
  virtual std::shared_ptr<Communicator> new_group(
      const std::vector<int>& ranks, const std::string& name,
      std::chrono::milliseconds timeout = std::chrono::milliseconds(0)) = 0;

  // Blocking conveniences over the async forms.
  void allreduce(at::Tensor& tensor, ReduceOp op = ReduceOp::Sum);
  void broadcast(at::Tensor& tensor, int root);
  std::vector<at::Tensor> allgather(const at::Tensor& input);
  void send(const at::Tensor& tensor, int dst, int tag = 0);
  void recv(at::Tensor& tensor, int src, int tag = 0);
};

using CommunicatorPtr = std::shared_ptr<Communicator>;

}  // namespace cohort
