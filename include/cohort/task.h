// What the networks learn from a dataset's targets, and the loss and score that
// follow from it: classification (class indices; cross-entropy, scored by
// accuracy) or regression (real values; mean squared error, scored by it).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>

namespace cohort {

enum class Task { Classification, Regression };

// "classification" | "regression" (data.task); InputError for other names.
Task parse_task(const std::string& name);
std::string task_name(Task task);

// The training loss, a mean over the batch. Classification: cross-entropy of
// logits B x C against class indices B (int64). Regression: squared error of
// predictions B x T against targets B x T (float), averaged over samples and
// targets, as torch.nn.MSELoss() does.
at::Tensor task_loss(Task task, const at::Tensor& outputs, const at::Tensor& targets);

// Classification: how many rows' argmax is their class. Regression: 0 (it has
// no notion of a correct prediction; its score is the loss).
int64_t correct_predictions(Task task, const at::Tensor& outputs, const at::Tensor& targets);

// The fraction correct of a batch, for logs: 0 for regression.
double batch_accuracy(Task task, const at::Tensor& outputs, const at::Tensor& targets);

}  // namespace cohort
