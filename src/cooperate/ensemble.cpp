#include "cohort/ensemble.h"

#include <torch/torch.h>

#include <cmath>
#include <string>

#include "cohort/error.h"

namespace cohort {

EnsembleMetrics& EnsembleMetrics::operator+=(const EnsembleMetrics& other) {
  samples += other.samples;
  correct += other.correct;
  nll_sum += other.nll_sum;
  return *this;
}

at::Tensor ensemble_log_probabilities(const std::vector<at::Tensor>& member_logits) {
  if (member_logits.empty()) throw InputError("ensemble: need at least one member's logits");
  for (size_t k = 1; k < member_logits.size(); ++k)
    if (!member_logits[k].sizes().equals(member_logits[0].sizes()))
      throw InputError("ensemble: member " + std::to_string(k) +
                       " predicts a different shape than member 0; members must share the "
                       "batch and the classes");
  std::vector<at::Tensor> log_probs;
  for (const at::Tensor& z : member_logits) log_probs.push_back(torch::log_softmax(z, -1));
  return torch::logsumexp(torch::stack(log_probs), 0) -
         std::log(static_cast<double>(member_logits.size()));
}

EnsembleMetrics ensemble_metrics(const std::vector<at::Tensor>& member_logits,
                                 const at::Tensor& targets) {
  torch::NoGradGuard no_grad;
  const at::Tensor log_p = ensemble_log_probabilities(member_logits);
  if (targets.dim() != 1 || targets.size(0) != log_p.size(0))
    throw InputError("ensemble: need one target per row of logits");
  EnsembleMetrics m;
  m.samples = targets.size(0);
  m.correct = log_p.argmax(1).eq(targets).sum().item<int64_t>();
  m.nll_sum = -log_p.gather(1, targets.unsqueeze(1)).to(torch::kFloat64).sum().item<double>();
  return m;
}

EnsembleMetrics evaluate_ensemble(const std::vector<torch::nn::Sequential>& members,
                                  const at::Tensor& images, const at::Tensor& labels,
                                  int64_t batch_size) {
  if (batch_size < 1) throw InputError("evaluate_ensemble: batch size must be >= 1");
  torch::NoGradGuard no_grad;
  // Holders share their module: copies give the non-const access forward() needs.
  std::vector<torch::nn::Sequential> models(members.begin(), members.end());
  std::vector<bool> was_training;
  for (auto& m : models) {
    was_training.push_back(m->is_training());
    m->eval();
  }
  EnsembleMetrics total;
  for (int64_t start = 0; start < labels.size(0); start += batch_size) {
    const int64_t n = std::min(batch_size, labels.size(0) - start);
    const at::Tensor x = images.narrow(0, start, n);
    std::vector<at::Tensor> logits;
    for (auto& m : models) logits.push_back(m->forward(x));
    total += ensemble_metrics(logits, labels.narrow(0, start, n));
  }
  for (size_t k = 0; k < models.size(); ++k) models[k]->train(was_training[k]);
  return total;
}

}  // namespace cohort
