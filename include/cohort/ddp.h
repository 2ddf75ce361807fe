// Synchronous data parallelism: every rank holds the whole model, computes
// gradients on its own slice of the batch, and the gradients are averaged
// across ranks before the optimiser steps, so all ranks apply the same update
// and stay identical. Gradients are reduced bucket by bucket while backward is
// still running (Li et al., "PyTorch Distributed", VLDB 2020).
//
//   cohort::DistributedDataParallel ddp(model.ptr(), comm);
//   for (...) {
//     optimizer.zero_grad();
//     auto loss = torch::nn::functional::cross_entropy(model->forward(x), y);
//     loss.backward();     // buckets are reduced as their gradients appear
//     ddp.synchronize();   // waits; every param.grad now holds the average
//     optimizer.step();
//   }
#pragma once

#include <torch/nn/module.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "cohort/comm.h"
#include "cohort/ddp/bucket_plan.h"
#include "cohort/ddp/comm_hook.h"
#include "cohort/ddp/timeline.h"

namespace cohort {
namespace ddp {
class Reducer;
class GradientHookRegistry;
}  // namespace ddp

struct DdpOptions {
  // Gradients are fused into buckets; a bucket closes once it holds this many
  // bytes or more (PyTorch's rule, BucketPlan::pack).
  int64_t bucket_cap_bytes = kDefaultBucketCapBytes;
  // The same for the first bucket launched (the last layers' gradients); 0: the
  // cap above. 1 MiB on every device (kFirstBucketCapBytes says why).
  int64_t first_bucket_cap_bytes = kFirstBucketCapBytes;
  // When true, a parameter that got no gradient in a step is reduced as zeros
  // at synchronize() (the other ranks may have used it). When false, a missing
  // gradient raises InputError at synchronize() naming the parameter.
  bool find_unused_parameters = false;
  // Batch norm and other buffers are copied from rank 0 at every synchronize(),
  // so the next forward on every rank uses rank 0's running statistics, as
  // PyTorch's DDP does by default. Off: each rank keeps its own.
  bool broadcast_buffers = true;
  // Null: AllreduceHook (exact average).
  CommHookPtr comm_hook;
  // synchronize() polls each CPU bucket's reduction this long (yielding the
  // core between polls) before it blocks: the rank has nothing else to do, and
  // a blocked thread's wake-up is slow on virtual machines (2 ranks on a
  // 2-core VM: 15-21% more samples/s on the mlp; on the cnn +10% one day, -2%
  // the next; docs/benchmarks/ddp.md). Zero: block at once. CUDA buckets never
  // poll.
  std::chrono::microseconds poll_before_block{2000};
};

class DistributedDataParallel {
 public:
  // Checks that every rank has the same parameter and buffer names, shapes and
  // types (InputError naming the first difference), copies parameters and
  // buffers from rank 0, and installs gradient hooks. Collective: every rank
  // must construct its DistributedDataParallel at the same point.
  DistributedDataParallel(std::shared_ptr<torch::nn::Module> module, CommunicatorPtr comm,
                          DdpOptions options = {});
  ~DistributedDataParallel();
  DistributedDataParallel(const DistributedDataParallel&) = delete;
  DistributedDataParallel& operator=(const DistributedDataParallel&) = delete;
  DistributedDataParallel(DistributedDataParallel&&) noexcept;
  DistributedDataParallel& operator=(DistributedDataParallel&&) noexcept;

  torch::nn::Module& module() { return *module_; }
  const std::shared_ptr<torch::nn::Module>& module_ptr() const { return module_; }
  Communicator& comm() { return *comm_; }

  // Call after backward and before optimizer.step(). Reduces what backward did
  // not start (unused parameters, buckets waiting on them), waits for every
  // bucket, and leaves the average in each param.grad. The gradients are views
  // into the bucket buffers: zeroing them in place (optimizer.zero_grad())
  // keeps them so and the next step copies nothing; setting them to undefined
  // costs one copy per parameter. Inside a NoSync scope this does nothing.
  // Collective: every rank calls it once per synchronised step.
  void synchronize();

  // While a NoSync object lives, backward only accumulates gradients locally;
  // the first synchronised step after it reduces the accumulated sum.
  class NoSync {
   public:
    explicit NoSync(DistributedDataParallel& ddp);
    ~NoSync();
    NoSync(const NoSync&) = delete;
    NoSync& operator=(const NoSync&) = delete;

   private:
    DistributedDataParallel* ddp_;
  };
  [[nodiscard]] NoSync no_sync() { return NoSync(*this); }

  // Replaces the bucket reduction; every rank must install the same kind of
  // hook before the next step.
  void register_comm_hook(CommHookPtr hook);

  // The plan in use: reverse registration order until the first synchronised
  // step, then rank 0's observed gradient order (identical on every rank).
  const BucketPlan& bucket_plan() const;
  const std::vector<std::string>& parameter_names() const;
  // Timings of the last synchronised step.
  const StepTimeline& last_timeline() const;
  int64_t steps() const;

 private:
  std::shared_ptr<torch::nn::Module> module_;
  CommunicatorPtr comm_;
  DdpOptions options_;
  std::vector<at::Tensor> buffers_;
  std::unique_ptr<ddp::Reducer> reducer_;
  // Declared after the reducer so the hooks that call it are removed first.
  std::unique_ptr<ddp::GradientHookRegistry> hooks_;
};

}  // namespace cohort
