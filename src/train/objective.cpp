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
                                          const at::Tensor& targets) {
  std::vector<at::Tensor> out;
  out.reserve(logits.size());
  const MutualLossOptions options{cooperate_.alpha, cooperate_.temperature};
  if (cooperate_.method == "mutual" && logits.size() > 1) {
    for (auto& l : mutual_losses(logits, targets, options)) out.push_back(l.total);
    return out;
  }
  if (cooperate_.method == "codistill" && logits.size() > 1) {
    std::vector<at::Tensor> stale_logits(models_.size());
    for (size_t j = 0; j < models_.size(); ++j) {
      if (stale_[j].refresh_due(step)) stale_[j].refresh(0, pack_state(*models_[j]), step);
      stale_logits[j] = stale_[j].logits(inputs)[0];
    }
    for (size_t k = 0; k < logits.size(); ++k) {
      std::vector<at::Tensor> peers;
      for (size_t j = 0; j < logits.size(); ++j)
        if (j != k) peers.push_back(stale_logits[j]);
      out.push_back(mutual_loss(logits[k], targets, peers, options).total);
    }
    return out;
  }
  for (const auto& l : logits) out.push_back(at::cross_entropy_loss(l, targets));
  return out;
}

}  // namespace cohort
