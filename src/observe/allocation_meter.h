// What a training step's own tensors take at their peak. libtorch's allocators
// (CPU and CUDA) report every allocation and free to the thread's memory
// listener, the hook the PyTorch profiler's profile_memory uses; while a meter
// is attached, it is that listener. Frees of blocks allocated before it
// attached are not reported, so what it counts is what the metered code itself
// added: activations saved for backward, gradients, temporaries. Allocations on
// other threads (the communication backends' buffers) are not counted.
#pragma once

#include <c10/core/Allocator.h>

#include <cstdint>
#include <memory>

namespace c10 {
class DebugInfoGuard;
}

namespace cohort {

class AllocationMeter {
 public:
  // Starts counting this thread's allocations; stops when destroyed. Counts
  // nothing when a profiler already listens on this thread (active() false).
  AllocationMeter();
  ~AllocationMeter();
  AllocationMeter(const AllocationMeter&) = delete;
  AllocationMeter& operator=(const AllocationMeter&) = delete;

  bool active() const { return guard_ != nullptr; }
  // Bytes allocated since attaching and not yet freed.
  int64_t current() const;
  // The most current() has been.
  int64_t peak() const;

  // The meter attached to this thread (active or not), or null: engines note
  // what their forward left held without being handed the meter.
  static const AllocationMeter* attached();

 private:
  struct Listener;
  std::shared_ptr<Listener> listener_;
  std::unique_ptr<c10::DebugInfoGuard> guard_;
  int saved_log_level_ = 0;
  const AllocationMeter* outer_ = nullptr;
};

}  // namespace cohort
