// The exact and the cast-compressed bucket reductions (PowerSGD: powersgd.cpp).
#include <torch/torch.h>

#include "cohort/ddp/comm_hook.h"
#include "cohort/error.h"

namespace cohort {

PendingReduction::PendingReduction(CommHandle handle, std::function<void()> finish)
    : handle_(std::move(handle)), finish_(std::move(finish)) {}

bool PendingReduction::completed() const { return !handle_.valid() || handle_.completed(); }

void PendingReduction::wait(std::chrono::microseconds poll_first) {
  if (handle_.valid()) handle_.wait(poll_first);
  handle_ = CommHandle();
  // Run once: waiting again (the reducer waits in order) must not repeat it.
  if (finish_) std::exchange(finish_, nullptr)();
}

PendingReduction AllreduceHook::run(GradBucket& bucket, Communicator& comm) {
  bucket.buffer.div_(comm.size());
  std::vector<at::Tensor> tensors = {bucket.buffer};
  return PendingReduction(comm.allreduce_async(tensors, ReduceOp::Sum));
}

CompressionHook::CompressionHook(at::ScalarType wire_type) : wire_type_(wire_type) {
  if (wire_type != at::kHalf && wire_type != at::kBFloat16) {
    throw InputError(std::string("CompressionHook: wire type must be float16 or bfloat16, got ") +
                     c10::toString(wire_type));
  }
}

std::string CompressionHook::name() const {
  return wire_type_ == at::kHalf ? "fp16" : "bf16";
}

PendingReduction CompressionHook::run(GradBucket& bucket, Communicator& comm) {
  // Divided before the cast: the sum of N averages stays in float16's range
  // where the sum of N gradients might not.
  at::Tensor wire = at::empty(bucket.buffer.sizes(), bucket.buffer.options().dtype(wire_type_));
  wire.copy_(bucket.buffer.div_(comm.size()));
  at::Tensor buffer = bucket.buffer;
  if (wire_type_ == at::kHalf) {
    std::vector<at::Tensor> tensors = {wire};
    return PendingReduction(comm.allreduce_async(tensors, ReduceOp::Sum),
                            [buffer, wire] { buffer.copy_(wire); });
  }
  // bfloat16: gather every rank's payload (moved as 2-byte float16 bit
  // patterns, which an allgather copies without interpreting) and sum in float32.
  auto gathered = std::make_shared<std::vector<at::Tensor>>();
  for (int r = 0; r < comm.size(); ++r) gathered->push_back(at::empty_like(wire).view(at::kHalf));
  at::Tensor payload = wire.view(at::kHalf);
  CommHandle handle = comm.allgather_async(*gathered, payload);
  return PendingReduction(std::move(handle), [buffer, gathered] {
    buffer.zero_();
    for (const auto& part : *gathered) buffer.add_(part.view(at::kBFloat16));
  });
}

}  // namespace cohort
