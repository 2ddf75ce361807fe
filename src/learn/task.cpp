#include "cohort/task.h"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "cohort/error.h"

namespace cohort {

Task parse_task(const std::string& name) {
  if (name == "classification") return Task::Classification;
  if (name == "regression") return Task::Regression;
  throw InputError(fmt::format("data.task = '{}' is not one of: classification, regression", name));
}

std::string task_name(Task task) {
  return task == Task::Regression ? "regression" : "classification";
}

at::Tensor task_loss(Task task, const at::Tensor& outputs, const at::Tensor& targets) {
  if (task == Task::Regression) {
    // mse_loss would broadcast B x 1 against B into B x B without a word.
    if (!outputs.sizes().equals(targets.sizes())) {
      throw InputError(fmt::format(
          "a regression network's outputs ({}) must have the targets' shape ({}): one output "
          "per target",
          fmt::join(outputs.sizes(), "x"), fmt::join(targets.sizes(), "x")));
    }
    return at::mse_loss(outputs, targets);
  }
  return at::cross_entropy_loss(outputs, targets);
}

int64_t correct_predictions(Task task, const at::Tensor& outputs, const at::Tensor& targets) {
  if (task == Task::Regression) return 0;
  return outputs.detach().argmax(1).eq(targets).sum().item<int64_t>();
}

double batch_accuracy(Task task, const at::Tensor& outputs, const at::Tensor& targets) {
  const int64_t rows = targets.size(0);
  return rows ? double(correct_predictions(task, outputs, targets)) / double(rows) : 0.0;
}

}  // namespace cohort
