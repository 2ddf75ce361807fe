// The bucket state of a DistributedDataParallel: flat gradient buffers laid
// out by the BucketPlan, which gradients have arrived this step, and the
// reductions in flight. Gradients arrive from GradientHookRegistry; buckets are
// launched strictly in plan order, so every rank issues its collectives in the
// same sequence even when gradients arrive in different orders.
#pragma once

#include <ATen/core/Tensor.h>

#include <mutex>
#include <string>
#include <vector>

#include "cohort/comm.h"
#include "cohort/ddp.h"
#include "cohort/ddp/bucket_plan.h"
#include "cohort/ddp/comm_hook.h"
#include "cohort/ddp/timeline.h"

namespace cohort::ddp {

class Reducer {
 public:
  Reducer(std::vector<at::Tensor> parameters, std::vector<std::string> names, CommunicatorPtr comm,
          const DdpOptions& options);

  // From the gradient hooks (the backward thread).
  void on_gradient_ready(size_t parameter);
  // Returns false (and does nothing) inside a NoSync scope.
  bool synchronize();

  void enter_no_sync();
  void leave_no_sync();
  void set_hook(CommHookPtr hook);

  const BucketPlan& plan() const { return plan_; }
  const std::vector<std::string>& names() const { return names_; }
  const StepTimeline& last_timeline() const { return last_timeline_; }
  int64_t steps() const { return step_; }

 private:
  struct Bucket {
    GradBucket grad;
    size_t pending = 0;  // gradients not yet arrived this step
    PendingReduction reduction;
  };

  void build_buckets(BucketPlan plan);
  void start_step_if_needed();
  // Makes param.grad the bucket view, copying the gradient in when autograd
  // put it in a tensor of its own.
  void move_gradient_into_bucket(size_t parameter);
  void mark_ready(size_t parameter);
  void launch_in_order();
  void poll_done();
  void fill_missing_gradients();
  void rebuild_from_rank0_order();
  void reset_step();

  std::vector<at::Tensor> parameters_;
  std::vector<std::string> names_;
  std::vector<int64_t> sizes_bytes_;
  CommunicatorPtr comm_;
  int64_t cap_bytes_;
  int64_t first_cap_bytes_;
  bool find_unused_;
  std::chrono::microseconds poll_before_block_;  // zero for CUDA buffers
  CommHookPtr hook_;

  BucketPlan plan_;
  std::vector<Bucket> buckets_;
  std::vector<size_t> bucket_of_;
  std::vector<at::Tensor> views_;  // per parameter, aliasing its bucket's buffer

  std::mutex mutex_;
  int no_sync_depth_ = 0;
  bool step_started_ = false;
  std::vector<bool> ready_;
  std::vector<size_t> observed_order_;
  size_t next_launch_ = 0;     // buckets before it are launched
  size_t first_not_done_ = 0;  // buckets before it were seen complete
  StepTimeline timeline_;
  StepTimeline last_timeline_;
  int64_t step_ = 0;
  bool rebuilt_ = false;
};

}  // namespace cohort::ddp
