// ZeRO 2 and 3's gradient averaging, one unit at a time: a unit's whole
// gradient is reduce-scattered as soon as backward has produced it, while
// backward goes on through earlier layers (DDP's overlap; the result is a
// chunk, as in FSDP). Each finished reduction is added into the unit's chunk
// gradient, so the gradients of several backwards before one step add up.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstddef>
#include <deque>
#include <vector>

#include "cohort/comm.h"
#include "cohort/ddp/comm_hook.h"

namespace cohort::zero {

class UnitReductions {
 public:
  // chunk_gradients[u]: this rank's chunk of unit u's averaged gradient.
  // At most most_in_flight reductions run at once: each holds a whole
  // unit's packed gradient, so the bound is what caps backward's memory.
  UnitReductions(std::vector<at::Tensor> chunk_gradients, CommunicatorPtr comm,
                 size_t most_in_flight);
  ~UnitReductions();
  UnitReductions(const UnitReductions&) = delete;
  UnitReductions& operator=(const UnitReductions&) = delete;

  // From now on each unit is averaged by this DDP comm hook (the unit's
  // packed gradient as one bucket, allreduced whole; this rank keeps its
  // chunk) instead of an exact reduce-scatter.
  void set_hook(CommHookPtr hook) { hook_ = std::move(hook); }
  // Starts averaging unit u's packed whole gradient (bucket.buffer, padded to
  // the unit's size) across ranks; waits for the oldest first when the bound
  // is reached.
  void start(size_t u, GradBucket bucket);
  // Waits for every reduction started and adds each into its chunk gradient.
  void finish_all();
  // Waits for them (the other ranks take part) and drops their results.
  void discard_all();
  // Seconds spent blocked on reductions since the last call.
  double take_wait_seconds();

 private:
  struct InFlight {
    size_t unit = 0;
    GradBucket bucket;
    std::vector<at::Tensor> inputs;  // views of the packed gradient, one per rank
    at::Tensor output;
    CommHandle handle;         // the reduce-scatter's, or
    PendingReduction pending;  // the hook's
    bool completed() const;
  };
  void wait_oldest(bool keep);

  std::vector<at::Tensor> chunk_gradients_;
  CommunicatorPtr comm_;
  size_t most_in_flight_;
  CommHookPtr hook_;
  std::deque<InFlight> in_flight_;
  double wait_seconds_ = 0;
};

}  // namespace cohort::zero
