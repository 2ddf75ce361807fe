#include "parallel/zero/unit_reductions.h"

#include <ATen/ops/empty_like.h>

#include <algorithm>
#include <chrono>
#include <utility>

namespace cohort::zero {

UnitReductions::UnitReductions(std::vector<at::Tensor> chunk_gradients, CommunicatorPtr comm,
                               size_t most_in_flight)
    : chunk_gradients_(std::move(chunk_gradients)),
      comm_(std::move(comm)),
      most_in_flight_(std::max<size_t>(1, most_in_flight)) {}

// The backend may still write into the outputs: never free them under it.
UnitReductions::~UnitReductions() {
  try {
    discard_all();
  } catch (...) {  // a broken group: its error was reported where it broke
  }
}

bool UnitReductions::InFlight::completed() const {
  return pending.valid() ? pending.completed() : handle.completed();
}

void UnitReductions::start(size_t u, GradBucket bucket) {
  // Finished ones are added up now: their packed gradients go sooner.
  while (!in_flight_.empty() && in_flight_.front().completed()) wait_oldest(/*keep=*/true);
  while (in_flight_.size() >= most_in_flight_) wait_oldest(/*keep=*/true);
  in_flight_.emplace_back();
  InFlight& reduction = in_flight_.back();
  reduction.unit = u;
  reduction.bucket = std::move(bucket);
  if (hook_) {
    reduction.pending = hook_->run(reduction.bucket, *comm_);
    return;
  }
  reduction.inputs = reduction.bucket.buffer.chunk(comm_->size());
  reduction.output = at::empty_like(chunk_gradients_.at(u));
  reduction.handle =
      comm_->reduce_scatter_async(reduction.output, reduction.inputs, ReduceOp::Average);
}

void UnitReductions::wait_oldest(bool keep) {
  InFlight& oldest = in_flight_.front();
  const auto start = std::chrono::steady_clock::now();
  at::Tensor average = oldest.output;
  if (oldest.pending.valid()) {
    oldest.pending.wait();  // the hook leaves the average of the whole unit in its buffer
    average = oldest.bucket.buffer.chunk(comm_->size())[comm_->rank()];
  } else {
    oldest.handle.wait();
  }
  wait_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (keep) chunk_gradients_[oldest.unit].add_(average);
  in_flight_.pop_front();
}

void UnitReductions::finish_all() {
  while (!in_flight_.empty()) wait_oldest(/*keep=*/true);
}

void UnitReductions::discard_all() {
  while (!in_flight_.empty()) wait_oldest(/*keep=*/false);
}

double UnitReductions::take_wait_seconds() { return std::exchange(wait_seconds_, 0.0); }

}  // namespace cohort::zero
