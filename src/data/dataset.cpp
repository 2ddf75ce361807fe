#include <ATen/ATen.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "cohort/data.h"
#include "cohort/error.h"

namespace cohort {

Batch Dataset::slice(int64_t begin, int64_t end) const {
  return get(at::arange(begin, end, at::kLong));
}

TensorDataset::TensorDataset(at::Tensor inputs, at::Tensor targets, int64_t classes)
    : TensorDataset(std::move(inputs), std::move(targets), Task::Classification, classes) {}

TensorDataset::TensorDataset(at::Tensor inputs, at::Tensor targets, Task task, int64_t outputs)
    : inputs_(std::move(inputs)), targets_(std::move(targets)), task_(task), outputs_(outputs) {
  const int64_t target_dims = task_ == Task::Regression ? 2 : 1;
  if (inputs_.dim() < 1 || targets_.dim() != target_dims || inputs_.size(0) != targets_.size(0)) {
    throw InputError(fmt::format("a dataset needs N inputs and N targets{}, got {} and {}",
                                 task_ == Task::Regression ? " (N x T for regression)" : "",
                                 fmt::join(inputs_.sizes(), "x"),
                                 fmt::join(targets_.sizes(), "x")));
  }
  if (task_ == Task::Regression && targets_.size(1) != outputs_) {
    throw InputError(fmt::format("a regression dataset of {} targets holds {} per sample", outputs_,
                                 targets_.size(1)));
  }
}

int64_t TensorDataset::size() const { return targets_.size(0); }

Batch TensorDataset::get(const at::Tensor& indices) const {
  return {inputs_.index_select(0, indices), targets_.index_select(0, indices)};
}

Batch TensorDataset::slice(int64_t begin, int64_t end) const {
  return {inputs_.slice(0, begin, end), targets_.slice(0, begin, end)};
}

SampleSpec TensorDataset::spec() const { return {inputs_.sizes().slice(1).vec(), task_, outputs_}; }

}  // namespace cohort
