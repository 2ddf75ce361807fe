#include "observe/allocation_meter.h"

#include <c10/util/Logging.h>
#include <c10/util/ThreadLocalDebugInfo.h>

#include <algorithm>
#include <atomic>
#include <utility>

namespace cohort {
namespace {

thread_local const AllocationMeter* attached_meter = nullptr;

}  // namespace

struct AllocationMeter::Listener : c10::MemoryReportingInfoBase {
  std::atomic<int64_t> current{0}, peak{0};

  void reportMemoryUsage(void* /*ptr*/, int64_t bytes, size_t /*total_allocated*/,
                         size_t /*total_reserved*/, c10::Device /*device*/) override {
    const int64_t now = current.fetch_add(bytes) + bytes;
    int64_t seen = peak.load();
    while (now > seen && !peak.compare_exchange_weak(seen, now)) {
    }
  }
  bool memoryProfilingEnabled() const override { return true; }
};

AllocationMeter::AllocationMeter() : listener_(std::make_shared<Listener>()) {
  outer_ = std::exchange(attached_meter, this);
  if (c10::ThreadLocalDebugInfo::get(c10::DebugInfoKind::PROFILER_STATE)) return;
  guard_ = std::make_unique<c10::DebugInfoGuard>(c10::DebugInfoKind::PROFILER_STATE, listener_);
  // The CPU allocator warns once when a block from before the listener is
  // freed ("Memory block of unknown size ..."): exactly the frees this meter
  // means to leave out, so the warning is quieted while it listens.
  saved_log_level_ = FLAGS_caffe2_log_level;
  FLAGS_caffe2_log_level = std::max(saved_log_level_, c10::GLOG_ERROR);
}

AllocationMeter::~AllocationMeter() {
  attached_meter = outer_;
  if (!guard_) return;
  guard_.reset();
  FLAGS_caffe2_log_level = saved_log_level_;
}

int64_t AllocationMeter::current() const { return listener_->current.load(); }
int64_t AllocationMeter::peak() const { return listener_->peak.load(); }

const AllocationMeter* AllocationMeter::attached() { return attached_meter; }

}  // namespace cohort
