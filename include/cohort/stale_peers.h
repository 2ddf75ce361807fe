// Stale copies of peer networks for codistillation (Anil et al. 2018, "Large scale
// distributed neural network training through online distillation"). Each network
// keeps a private copy of every peer's weights, refreshed only every N steps from
// the weights the peers publish; between refreshes the copies predict the
// distillation targets locally, so the only traffic is one weight exchange per N
// steps. The paper reports that targets hundreds of steps stale still help.
#pragma once

#include <ATen/core/Tensor.h>
#include <torch/nn/modules/container/sequential.h>

#include <cstdint>
#include <functional>
#include <vector>

namespace cohort {

// A model's parameters followed by its floating-point buffers (batch-norm running
// statistics), flattened in registration order into one 1-D tensor of the
// parameters' dtype: the form in which weights travel between processes (one
// tensor to broadcast or allgather). Integer buffers (batch-norm's step counter)
// are not carried; they only matter for cumulative-average running statistics.
at::Tensor pack_state(const torch::nn::Module& model);

// Writes a packed state into a model of the same architecture. A length or dtype
// that does not match raises InputError.
void unpack_state(const at::Tensor& packed, torch::nn::Module& model);

class StalePeerCache {
 public:
  // `prototype` fixes the peers' architecture; each peer gets its own deep clone.
  // Its weights are irrelevant: a peer predicts only after its first refresh.
  // A model with a module that cannot be cloned (a user's torch::nn::Module that
  // is not Cloneable) gets its copies from `build` instead, when given.
  StalePeerCache(const torch::nn::Sequential& prototype, int num_peers, int64_t refresh_interval,
                 const std::function<torch::nn::Sequential()>& build = nullptr);

  // True on the steps where the weights should be exchanged: 0, N, 2N, ...
  bool refresh_due(int64_t step) const { return step % refresh_interval_ == 0; }

  // Replaces peer `peer`'s copy with a packed state published at `step`.
  void refresh(int peer, const at::Tensor& packed_state, int64_t step);

  // Predictions of every peer copy on `inputs` (no gradient, evaluation mode), in
  // peer order: the `peer_logits` of mutual_loss(). Raises Error if a peer has
  // never been refreshed, since its weights would be the prototype's.
  std::vector<at::Tensor> logits(const at::Tensor& inputs);

  // The step of the peer's last refresh, or -1 if never refreshed.
  int64_t refreshed_at(int peer) const;
  int num_peers() const { return static_cast<int>(peers_.size()); }
  int64_t refresh_interval() const { return refresh_interval_; }

 private:
  std::vector<torch::nn::Sequential> peers_;
  std::vector<int64_t> refreshed_at_;
  int64_t refresh_interval_;
};

}  // namespace cohort
