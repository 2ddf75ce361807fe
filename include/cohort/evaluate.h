// Test-split evaluation of one network, of an averaged-prediction ensemble, and
// of a whole cohort.
#pragma once

#include <torch/nn/modules/container/sequential.h>

#include <optional>
#include <vector>

#include "cohort/data.h"

namespace cohort {

struct Evaluation {
  double accuracy = 0;  // fraction in [0, 1]; classification only (0 for regression)
  // The task's mean loss: cross-entropy (the ensemble's: NLL of averaged
  // probabilities), or for regression the mean squared error.
  double loss = 0;
};

// Runs in eval mode without gradients, in chunks of `chunk` samples, and restores
// train mode afterwards; the task is the data's (data.spec().task). Also returns
// the softmax probabilities when `probs` is set (N x classes; for regression the
// predictions, N x targets) so an ensemble can average them without a second pass.
Evaluation evaluate(torch::nn::Sequential& model, const Dataset& data, at::Tensor* probs = nullptr,
                    int64_t chunk = 1000);

// The ensemble's prediction is the mean of the members' probabilities
// (classification: accuracy and NLL) or of their predictions (regression: MSE).
Evaluation evaluate_ensemble(const std::vector<at::Tensor>& member_probs, const at::Tensor& targets,
                             Task task = Task::Classification);

// Every network on `data`, and the ensemble of those that cooperate
// (`cooperates[k]`; the others are controls and stand apart) when there are two
// or more of them.
struct CohortEvaluation {
  std::vector<Evaluation> networks;
  std::optional<Evaluation> ensemble;
};
CohortEvaluation evaluate_cohort(std::vector<torch::nn::Sequential>& models,
                                 const std::vector<bool>& cooperates, const Dataset& data);

}  // namespace cohort
