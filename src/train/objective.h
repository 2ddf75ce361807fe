// What each network minimises on a batch, given every network's logits on it:
// plain cross-entropy for independent methods (none, ensemble, pbt), plus a
// distillation term towards the peers for mutual learning and codistillation.
#pragma once

#include <ATen/core/Tensor.h>
#include <torch/nn/modules/container/sequential.h>

#include <vector>

#include "cohort/config.h"
#include "cohort/stale_peers.h"

namespace cohort {

class Objective {
 public:
  Objective(const CooperateConfig& cooperate, const std::vector<torch::nn::Sequential>& models);

  // One loss per network. `step` drives codistillation's weight exchange.
  std::vector<at::Tensor> losses(int64_t step, const at::Tensor& inputs,
                                 const std::vector<at::Tensor>& logits, const at::Tensor& targets);

 private:
  CooperateConfig cooperate_;
  std::vector<torch::nn::Sequential> models_;
  // Codistillation: a stale copy of each network, refreshed every exchange_every
  // steps (Anil et al. 2018); one cache per network so architectures may differ.
  std::vector<StalePeerCache> stale_;
};

}  // namespace cohort
