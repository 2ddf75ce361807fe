// How one bucket of gradients is reduced. The default averages with one
// allreduce; hooks may compress (fp16, bf16, PowerSGD) as long as every rank
// ends with the same average. A hook sees one bucket at a time, in the same
// order on every rank, so its collectives line up across ranks.
#pragma once

#include <ATen/core/Tensor.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "cohort/comm.h"

namespace cohort {

// One bucket as a hook sees it. `buffer` is flat and holds this rank's gradient
// (not yet divided); `views[i]` aliases the part of `buffer` that is parameter
// `parameters[i]`'s gradient, shaped like the parameter.
struct GradBucket {
  size_t index = 0;
  int64_t step = 0;  // synchronised steps completed before this one
  at::Tensor buffer;
  std::vector<at::Tensor> views;
  std::vector<size_t> parameters;
};

// A reduction in flight. completed() says whether the communication has
// finished (for timelines); wait() blocks until it has and then runs the
// hook's finishing work (cast back, divide, decompress), after which
// bucket.buffer holds the average.
class PendingReduction {
 public:
  PendingReduction() = default;
  explicit PendingReduction(CommHandle handle, std::function<void()> finish = {});
  bool completed() const;
  // Polls up to `poll_first` before blocking (CommHandle::wait).
  void wait(std::chrono::microseconds poll_first = std::chrono::microseconds(0));
  bool valid() const { return handle_.valid() || static_cast<bool>(finish_); }

 private:
  CommHandle handle_;
  std::function<void()> finish_;
};

class CommHook {
 public:
  virtual ~CommHook() = default;
  virtual std::string name() const = 0;
  // Starts reducing bucket.buffer across comm's ranks. Called once per bucket
  // per synchronised step, buckets in launch order.
  virtual PendingReduction run(GradBucket& bucket, Communicator& comm) = 0;
};

using CommHookPtr = std::shared_ptr<CommHook>;

// Exact average: divide by the world size first (one pass, keeps the sum's
// magnitude like the mean's), then one allreduce of the bucket in place.
class AllreduceHook : public CommHook {
 public:
  std::string name() const override { return "allreduce"; }
  PendingReduction run(GradBucket& bucket, Communicator& comm) override;
};

// Sends half the bytes: the divided gradient is cast to float16 or bfloat16,
// reduced, and cast back into the bucket. float16 is summed by Gloo's allreduce
// (ring: each rank receives 2(N-1)/N half-size buffers). Gloo in libtorch 1.13
// cannot reduce bfloat16, so bfloat16 payloads are allgathered and summed in
// float32 in rank order (each rank receives N-1 half-size buffers: less than a
// float32 allreduce's 2(N-1)/N full buffers up to N = 4).
class CompressionHook : public CommHook {
 public:
  explicit CompressionHook(at::ScalarType wire_type);
  std::string name() const override;
  PendingReduction run(GradBucket& bucket, Communicator& comm) override;

 private:
  at::ScalarType wire_type_;
};

struct PowerSgdOptions {
  int64_t rank = 2;        // r: columns of the low-rank factors P (n x r), Q (m x r)
  int64_t start_step = 2;  // exact allreduce before this step (Vogels et al. warm up too)
  bool error_feedback = true;
  uint64_t seed = 0;       // Q's initial values; must match on every rank
};

// PowerSGD (Vogels, Karimireddy, Jaggi, NeurIPS 2019): each gradient matrix M
// (n x m, parameters of 2 or more dimensions reshaped to rows x rest) is
// replaced by P Q^T with P = orth(allreduce(M Q)), Q = allreduce(M^T P) / N,
// one power iteration per step. Error feedback adds what compression lost last
// step to this step's gradient. Vectors, and matrices too small to gain
// (n m <= r (n + m)), are allreduced uncompressed in the same message as P.
class PowerSgdHook : public CommHook {
 public:
  explicit PowerSgdHook(PowerSgdOptions options = {});
  ~PowerSgdHook() override;
  std::string name() const override { return "powersgd"; }
  PendingReduction run(GradBucket& bucket, Communicator& comm) override;

 private:
  struct BucketState;
  PowerSgdOptions options_;
  AllreduceHook exact_;
  std::vector<std::shared_ptr<BucketState>> states_;
};

}  // namespace cohort
