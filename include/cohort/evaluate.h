// Test-split evaluation of one network and of an averaged-prediction ensemble.
#pragma once

#include <torch/nn/modules/container/sequential.h>

#include <vector>

#include "cohort/data.h"

namespace cohort {

struct Evaluation {
  double accuracy = 0;  // fraction in [0, 1]
  double loss = 0;      // mean cross-entropy (the ensemble's: NLL of averaged probabilities)
};

// Runs in eval mode without gradients, in chunks of `chunk` samples, and restores
// train mode afterwards. Also returns the softmax probabilities when `probs` is set
// (N x classes) so an ensemble can average them without a second pass.
Evaluation evaluate(torch::nn::Sequential& model, const Dataset& data, at::Tensor* probs = nullptr,
                    int64_t chunk = 1000);

// Accuracy and NLL of the mean of the members' probabilities.
Evaluation evaluate_ensemble(const std::vector<at::Tensor>& member_probs, const at::Tensor& labels);

}  // namespace cohort
