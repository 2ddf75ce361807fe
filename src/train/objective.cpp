#include "train/objective.h"

#include <ATen/ATen.h>

#include "cohort/mutual_loss.h"

namespace cohort {

Objective::Objective(const CooperateConfig& cooperate,
                     const std::vector<torch::nn::Sequential>& models)
    : cooperate_(cooperate), models_(models) {
  if (cooperate_.method == "codistill") {
    for (const auto& m : models_) stale_.emplace_back(m, 1, cooperate_.exchange_every);
  }
}

std::vector<at::Tensor> Objective::losses(int64_t step, const at::Tensor& inputs,
                                          const std::vector<at::Tensor>& logits,
                                          const at::Tensor& targets,
                                          const std::vector<size_t>* only) {
  std::vector<size_t> all;
  if (!only) {
    for (size_t k = 0; k < logits.size(); ++k) all.push_back(k);
    only = &all;
  }
  std::vector<at::Tensor> out(logits.size());
  const MutualLossOptions options{cooperate_.alpha, cooperate_.temperature};
  // Every network's peers: the others' logits (mutual learning) or their stale
  // copies' (codistillation).
  std::vector<at::Tensor> peer_logits;
  if (cooperate_.method == "mutual" && logits.size() > 1) {
    peer_logits = logits;
  } else if (cooperate_.method == "codistill" && logits.size() > 1) {
    for (size_t j = 0; j < models_.size(); ++j) {
      if (stale_[j].refresh_due(step)) stale_[j].refresh(0, pack_state(*models_[j]), step);
      peer_logits.push_back(stale_[j].logits(inputs)[0]);
    }
  }
  for (size_t k : *only) {
    if (peer_logits.empty()) {
      out[k] = at::cross_entropy_loss(logits[k], targets);
      continue;
    }
    std::vector<at::Tensor> peers;
    for (size_t j = 0; j < logits.size(); ++j)
      if (j != k) peers.push_back(peer_logits[j]);
    out[k] = mutual_loss(logits[k], targets, peers, options).total;
  }
  return out;
}

}  // namespace cohort
