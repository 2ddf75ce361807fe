// Ensembles of independently or cooperatively trained networks: the prediction is
// the average of the members' softmax probabilities (Lakshminarayanan et al. 2017
// average probabilities, not logits, so each member's calibration is kept).
#pragma once

#include <ATen/core/Tensor.h>
#include <torch/nn/modules/container/sequential.h>

#include <cstdint>
#include <vector>

namespace cohort {

// Sums over the samples seen so far; add() batches, then read the means.
struct EnsembleMetrics {
  int64_t samples = 0;
  int64_t correct = 0;
  double nll_sum = 0;  // sum over samples of -log p_ensemble(y)

  double accuracy() const { return samples ? static_cast<double>(correct) / samples : 0.0; }
  double nll() const { return samples ? nll_sum / samples : 0.0; }
  EnsembleMetrics& operator+=(const EnsembleMetrics& other);
};

// log of (1/K) sum_k softmax(z_k), computed as logsumexp_k(log_softmax(z_k)) - log K
// so that a class every member gives ~0 probability has a finite NLL. Each
// element of `member_logits` is B x C; the result is B x C.
at::Tensor ensemble_log_probabilities(const std::vector<at::Tensor>& member_logits);

// Accuracy (argmax of the averaged probabilities) and NLL of one batch.
EnsembleMetrics ensemble_metrics(const std::vector<at::Tensor>& member_logits,
                                 const at::Tensor& targets);

// Evaluates the members on a whole split in batches of `batch_size`, in evaluation
// mode and without gradients; each model's train/eval mode is restored after.
EnsembleMetrics evaluate_ensemble(const std::vector<torch::nn::Sequential>& members,
                                  const at::Tensor& images, const at::Tensor& labels,
                                  int64_t batch_size = 1000);

}  // namespace cohort
