#include "parallel/ddp/reducer.h"

#include <fmt/format.h>
#include <c10/util/strides.h>
#include <torch/torch.h>

#include "cohort/error.h"

namespace cohort::ddp {
namespace {

// An alias of part of `buffer` that autograd does not track as a view: gradients
// that are autograd views cannot be detached in place, which
// Optimizer::zero_grad() does.
at::Tensor alias_slice(const at::Tensor& buffer, int64_t offset, at::IntArrayRef sizes) {
  at::Tensor alias = at::empty({0}, buffer.options());
  alias.set_(buffer.storage(), buffer.storage_offset() + offset, sizes,
             c10::contiguous_strides(sizes));
  return alias;
}

bool same_memory(const at::Tensor& a, const at::Tensor& b) {
  return a.defined() && b.defined() && a.data_ptr() == b.data_ptr() && a.sizes() == b.sizes() &&
         a.strides() == b.strides();
}

// Every parameter shares the first one's device (checked in the constructor).
bool on_cuda(const std::vector<at::Tensor>& parameters) {
  return !parameters.empty() && parameters.front().is_cuda();
}

}  // namespace

Reducer::Reducer(std::vector<at::Tensor> parameters, std::vector<std::string> names,
                 CommunicatorPtr comm, const DdpOptions& options)
    : parameters_(std::move(parameters)),
      names_(std::move(names)),
      comm_(std::move(comm)),
      cap_bytes_(options.bucket_cap_bytes),
      first_cap_bytes_(options.first_bucket_cap_bytes),
      find_unused_(options.find_unused_parameters),
      // A CUDA wait only orders streams: the host never sleeps on it.
      poll_before_block_(on_cuda(parameters_) ? std::chrono::microseconds(0)
                                              : options.poll_before_block),
      hook_(options.comm_hook ? options.comm_hook : std::make_shared<AllreduceHook>()) {
  for (const auto& p : parameters_) {
    if (p.scalar_type() != parameters_.front().scalar_type() ||
        p.device() != parameters_.front().device()) {
      throw InputError(fmt::format(
          "DistributedDataParallel: parameter '{}' is {} on {} but '{}' is {} on {}; all "
          "parameters must share one type and device (cast the model first)",
          names_[&p - parameters_.data()], c10::toString(p.scalar_type()), p.device().str(),
          names_.front(), c10::toString(parameters_.front().scalar_type()),
          parameters_.front().device().str()));
    }
    sizes_bytes_.push_back(p.numel() * static_cast<int64_t>(p.element_size()));
  }
  build_buckets(BucketPlan::pack(sizes_bytes_, reverse_registration_order(parameters_.size()),
                                 cap_bytes_, first_cap_bytes_));
  ready_.assign(parameters_.size(), false);
}

void Reducer::build_buckets(BucketPlan plan) {
  torch::NoGradGuard no_grad;
  std::vector<Bucket> buckets(plan.buckets.size());
  views_.assign(parameters_.size(), at::Tensor());
  for (size_t b = 0; b < plan.buckets.size(); ++b) {
    Bucket& bucket = buckets[b];
    int64_t numel = 0;
    for (size_t p : plan.buckets[b]) numel += parameters_[p].numel();
    bucket.grad.index = b;
    bucket.grad.buffer = at::zeros({numel}, parameters_[plan.buckets[b].front()].options());
    bucket.grad.parameters = plan.buckets[b];
    int64_t offset = 0;
    for (size_t p : plan.buckets[b]) {
      at::Tensor view = alias_slice(bucket.grad.buffer, offset, parameters_[p].sizes());
      offset += parameters_[p].numel();
      // Gradients already present (accumulated under no_sync, or from before a
      // rebuild) move into the new buffer.
      at::Tensor& grad = parameters_[p].mutable_grad();
      if (grad.defined()) {
        view.copy_(grad);
        grad = view;
      }
      bucket.grad.views.push_back(view);
      views_[p] = view;
    }
    bucket.pending = plan.buckets[b].size();
  }
  buckets_ = std::move(buckets);
  plan_ = std::move(plan);
  bucket_of_ = plan_.bucket_of();
}

void Reducer::start_step_if_needed() {
  if (step_started_) return;
  step_started_ = true;
  timeline_ = StepTimeline{};
  timeline_.backward_start = DdpClock::now();
  timeline_.buckets.assign(buckets_.size(), BucketTimes{});
}

void Reducer::move_gradient_into_bucket(size_t parameter) {
  torch::NoGradGuard no_grad;
  at::Tensor& grad = parameters_[parameter].mutable_grad();
  at::Tensor& view = views_[parameter];
  if (same_memory(grad, view)) return;
  if (grad.defined()) {
    view.copy_(grad);
  } else {
    view.zero_();
  }
  grad = view;
}

void Reducer::on_gradient_ready(size_t parameter) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (no_sync_depth_ > 0) return;
  start_step_if_needed();
  if (ready_[parameter]) {
    throw Error(fmt::format(
        "DistributedDataParallel: the gradient of '{}' arrived twice in one step; call "
        "synchronize() after every backward, or run the extra backward passes inside no_sync()",
        names_[parameter]));
  }
  move_gradient_into_bucket(parameter);
  observed_order_.push_back(parameter);
  timeline_.backward_end = DdpClock::now();
  mark_ready(parameter);
  launch_in_order();
  poll_done();
}

void Reducer::mark_ready(size_t parameter) {
  ready_[parameter] = true;
  Bucket& bucket = buckets_[bucket_of_[parameter]];
  if (--bucket.pending == 0) timeline_.buckets[bucket.grad.index].ready = DdpClock::now();
}

void Reducer::launch_in_order() {
  while (next_launch_ < buckets_.size() && buckets_[next_launch_].pending == 0) {
    Bucket& bucket = buckets_[next_launch_++];
    bucket.grad.step = step_;
    timeline_.buckets[bucket.grad.index].launched = DdpClock::now();
    bucket.reduction = hook_->run(bucket.grad, *comm_);
  }
}

void Reducer::poll_done() {
  while (first_not_done_ < next_launch_ && buckets_[first_not_done_].reduction.completed()) {
    timeline_.buckets[first_not_done_].done = DdpClock::now();
    ++first_not_done_;
  }
}

void Reducer::fill_missing_gradients() {
  for (size_t p = 0; p < parameters_.size(); ++p) {
    if (ready_[p]) continue;
    if (!find_unused_) {
      throw InputError(fmt::format(
          "DistributedDataParallel: parameter '{}' received no gradient in step {}; if some "
          "parameters are legitimately unused in a step, construct with "
          "DdpOptions::find_unused_parameters = true (every rank must)",
          names_[p], step_));
    }
    // Unused here but perhaps used on another rank: this rank contributes its
    // accumulated gradient (zero unless no_sync micro-steps used it).
    move_gradient_into_bucket(p);
    mark_ready(p);
  }
}

bool Reducer::synchronize() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (no_sync_depth_ > 0) return false;
  start_step_if_needed();
  try {
    fill_missing_gradients();
  } catch (...) {
    reset_step();
    throw;
  }
  launch_in_order();
  // In plan order on every rank: a hook's finishing work may issue collectives
  // of its own (PowerSGD's second allreduce), which must line up across ranks.
  for (size_t b = 0; b < buckets_.size(); ++b) {
    buckets_[b].reduction.wait(poll_before_block_);
    if (b >= first_not_done_) timeline_.buckets[b].done = DdpClock::now();
  }
  timeline_.synchronized = DdpClock::now();
  last_timeline_ = timeline_;
  ++step_;
  if (!rebuilt_) rebuild_from_rank0_order();
  reset_step();
  return true;
}

void Reducer::rebuild_from_rank0_order() {
  rebuilt_ = true;
  // Rank 0's order, padded with -1 for parameters it saw no gradient for.
  at::Tensor order = at::full({static_cast<int64_t>(parameters_.size())}, -1, at::kLong);
  for (size_t i = 0; i < observed_order_.size(); ++i) {
    order[static_cast<int64_t>(i)] = static_cast<int64_t>(observed_order_[i]);
  }
  comm_->broadcast(order, 0);
  std::vector<size_t> observed;
  auto values = order.accessor<int64_t, 1>();
  for (int64_t i = 0; i < values.size(0) && values[i] >= 0; ++i) {
    observed.push_back(static_cast<size_t>(values[i]));
  }
  BucketPlan plan = BucketPlan::pack(sizes_bytes_, complete_order(observed, parameters_.size()),
                                     cap_bytes_, first_cap_bytes_);
  if (!(plan == plan_)) build_buckets(std::move(plan));
}

void Reducer::reset_step() {
  step_started_ = false;
  ready_.assign(parameters_.size(), false);
  observed_order_.clear();
  next_launch_ = 0;
  first_not_done_ = 0;
  for (Bucket& bucket : buckets_) {
    bucket.pending = bucket.grad.parameters.size();
    bucket.reduction = PendingReduction();
  }
}

void Reducer::enter_no_sync() {
  std::lock_guard<std::mutex> lock(mutex_);
  ++no_sync_depth_;
}

void Reducer::leave_no_sync() {
  std::lock_guard<std::mutex> lock(mutex_);
  --no_sync_depth_;
}

void Reducer::set_hook(CommHookPtr hook) {
  std::lock_guard<std::mutex> lock(mutex_);
  hook_ = hook ? std::move(hook) : std::make_shared<AllreduceHook>();
}

}  // namespace cohort::ddp
