// What each network minimises on a batch, given every network's outputs on it:
// the task's own loss (cross-entropy, or mean squared error for regression) for
// independent methods (none, ensemble, pbt), plus a distillation term towards
// the peers for mutual learning and codistillation. Control networks
// (network.N.cooperate = false) take the task's loss alone and are no one's peer.
#pragma once

#include <ATen/core/Tensor.h>
#include <torch/nn/modules/container/sequential.h>

#include <vector>

#include "cohort/config.h"
#include "cohort/models.h"
#include "cohort/stale_peers.h"
#include "cohort/task.h"

namespace cohort {

class Objective {
 public:
  // `cooperates[k]`: whether network k takes part (all when empty). `specs`:
  // the networks' architectures, to build codistillation's copies of models that
  // cannot be cloned (a user's modules); none needed for the zoo's.
  Objective(const CooperateConfig& cooperate, Task task,
            const std::vector<torch::nn::Sequential>& models, std::vector<bool> cooperates = {},
            const std::vector<ModelSpec>& specs = {});

  // One loss per network. `step` drives codistillation's weight exchange. With
  // `only` (networks trained elsewhere hold copies, see network_groups.h) the
  // other entries stay undefined, and their logits are needed only as peers.
  std::vector<at::Tensor> losses(int64_t step, const at::Tensor& inputs,
                                 const std::vector<at::Tensor>& logits, const at::Tensor& targets,
                                 const std::vector<size_t>* only = nullptr);

  Task task() const { return task_; }

  // Mutual learning: each network's loss needs every other's logits on the batch.
  bool needs_peer_logits() const { return cooperate_.method == "mutual"; }

  // Codistillation refreshes its stale copies from the models at this step:
  // models trained elsewhere must be brought up to date first.
  bool refreshes_at(int64_t step) const;
  // Refreshes the copies due at `step` now, from the models as they are, where
  // losses() would on its first call: before some of the models step (a
  // pipelined member's stages step before the others' losses are taken).
  void refresh_copies(int64_t step);

 private:
  CooperateConfig cooperate_;
  Task task_;
  std::vector<torch::nn::Sequential> models_;
  std::vector<bool> cooperates_;
  // Codistillation: a stale copy of each network, refreshed every exchange_every
  // steps (Anil et al. 2018); one cache per network so architectures may differ.
  std::vector<StalePeerCache> stale_;
};

}  // namespace cohort
