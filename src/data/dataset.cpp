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
    : inputs_(std::move(inputs)), targets_(std::move(targets)), classes_(classes) {
  if (inputs_.dim() < 1 || targets_.dim() != 1 || inputs_.size(0) != targets_.size(0)) {
    throw InputError(fmt::format("a dataset needs N inputs and N targets, got {} and {}",
                                 fmt::join(inputs_.sizes(), "x"),
                                 fmt::join(targets_.sizes(), "x")));
  }
}

int64_t TensorDataset::size() const { return targets_.size(0); }

Batch TensorDataset::get(const at::Tensor& indices) const {
  return {inputs_.index_select(0, indices), targets_.index_select(0, indices)};
}

Batch TensorDataset::slice(int64_t begin, int64_t end) const {
  return {inputs_.slice(0, begin, end), targets_.slice(0, begin, end)};
}

SampleSpec TensorDataset::spec() const {
  return {inputs_.sizes().slice(1).vec(), Task::Classification, classes_};
}

}  // namespace cohort
