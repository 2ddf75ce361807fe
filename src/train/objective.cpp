#include "train/objective.h"

#include <ATen/ATen.h>

namespace cohort {

std::vector<at::Tensor> network_losses(const CooperateConfig& /*cooperate*/,
                                       const std::vector<at::Tensor>& logits,
                                       const at::Tensor& targets) {
  std::vector<at::Tensor> losses;
  losses.reserve(logits.size());
  for (const auto& l : logits) losses.push_back(at::cross_entropy_loss(l, targets));
  return losses;
}

}  // namespace cohort
