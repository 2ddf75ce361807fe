// Tensor files: what a Python user writes with
//   torch.save({"inputs": X, "targets": Y}, path)
// read through the same torch.save reader as state_dicts (cohort/state_dict.h).
#include <ATen/ATen.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include "cohort/data.h"
#include "cohort/error.h"
#include "cohort/state_dict.h"
#include "io/input_file.h"

namespace cohort {
namespace {

at::Tensor take(NamedTensors& tensors, const std::string& key, const std::string& origin) {
  for (auto& [name, tensor] : tensors)
    if (name == key) return tensor;
  std::vector<std::string> names;
  for (const auto& [name, tensor] : tensors) names.push_back("'" + name + "'");
  throw InputError(fmt::format(
      "{}: has no '{}' (it holds {}): write it with "
      "torch.save({{\"inputs\": X, \"targets\": Y}}, path)",
      origin, key, names.empty() ? "nothing" : fmt::format("{}", fmt::join(names, ", "))));
}

// The dtypes that convert to float32 and int64 (a file may hold any of torch's
// dtypes, sub-byte and float8 ones among them, which cannot be converted).
bool is_one_of(at::ScalarType type, std::initializer_list<at::ScalarType> allowed) {
  return std::find(allowed.begin(), allowed.end(), type) != allowed.end();
}

void require_one_target_per_input(const at::Tensor& inputs, const at::Tensor& targets,
                                  const std::string& origin) {
  if (targets.size(0) != inputs.size(0)) {
    throw InputError(fmt::format("{}: 'inputs' has {} samples but 'targets' {}", origin,
                                 inputs.size(0), targets.size(0)));
  }
}

std::shared_ptr<TensorDataset> classification_dataset(const at::Tensor& inputs, at::Tensor targets,
                                                      const std::string& origin, int64_t classes) {
  if (!is_one_of(targets.scalar_type(), {at::kByte, at::kChar, at::kShort, at::kInt, at::kLong}) ||
      targets.dim() != 1) {
    throw InputError(fmt::format(
        "{}: 'targets' must be a vector of N class indices (integers: uint8, "
        "int8, int16, int32 or int64), got {} of {}{}",
        origin, fmt::join(targets.sizes(), "x"), c10::toString(targets.scalar_type()),
        targets.is_floating_point() ? " (for real values set data.task = 'regression')" : ""));
  }
  require_one_target_per_input(inputs, targets, origin);
  targets = targets.to(at::kLong).contiguous();
  const int64_t lo = targets.min().item<int64_t>(), hi = targets.max().item<int64_t>();
  if (lo < 0)
    throw InputError(fmt::format("{}: target {} is negative: classes count from 0", origin, lo));
  if (classes > 0 && hi >= classes) {
    throw InputError(
        fmt::format("{}: target {} is outside the {} classes of the training split "
                    "(0 to {})",
                    origin, hi, classes, classes - 1));
  }
  // Classes counted from the training split; the test split takes them (`classes`).
  if (hi >= (int64_t{1} << 20)) {
    throw InputError(
        fmt::format("{}: target {} is past 2^20 classes: are these class indices?", origin, hi));
  }
  return std::make_shared<TensorDataset>(inputs, targets, classes > 0 ? classes : hi + 1);
}

std::shared_ptr<TensorDataset> regression_dataset(const at::Tensor& inputs, at::Tensor targets,
                                                  const std::string& origin, int64_t outputs) {
  if (!is_one_of(targets.scalar_type(), {at::kHalf, at::kBFloat16, at::kFloat, at::kDouble,
                                         at::kByte, at::kChar, at::kShort, at::kInt, at::kLong}) ||
      targets.dim() < 1 || targets.dim() > 2 || (targets.dim() == 2 && targets.size(1) < 1)) {
    throw InputError(
        fmt::format("{}: 'targets' must be N or N x T numbers for regression (floats or "
                    "integers), got {} of {}",
                    origin, fmt::join(targets.sizes(), "x"), c10::toString(targets.scalar_type())));
  }
  require_one_target_per_input(inputs, targets, origin);
  if (targets.dim() == 1) targets = targets.unsqueeze(1);
  targets = targets.to(at::kFloat).contiguous();
  if (!targets.isfinite().all().item<bool>()) {
    throw InputError(fmt::format("{}: 'targets' holds NaN or infinite values", origin));
  }
  if (outputs > 0 && targets.size(1) != outputs) {
    throw InputError(fmt::format("{}: holds {} targets per sample, the training split {}", origin,
                                 targets.size(1), outputs));
  }
  return std::make_shared<TensorDataset>(inputs, targets, Task::Regression, targets.size(1));
}

}  // namespace

std::shared_ptr<TensorDataset> parse_tensor_dataset(const std::vector<char>& bytes,
                                                    const std::string& origin, int64_t outputs,
                                                    Task task) {
  NamedTensors tensors =
      parse_named_tensors(bytes, origin, R"(torch.save({"inputs": X, "targets": Y}, path))");
  at::Tensor inputs = take(tensors, "inputs", origin);
  at::Tensor targets = take(tensors, "targets", origin);
  for (const auto& [name, tensor] : tensors) {
    if (name != "inputs" && name != "targets") {
      throw InputError(
          fmt::format("{}: holds '{}' besides 'inputs' and 'targets': save only those "
                      "two",
                      origin, name));
    }
  }
  if (!is_one_of(inputs.scalar_type(), {at::kHalf, at::kBFloat16, at::kFloat, at::kDouble}) ||
      inputs.dim() < 2) {
    throw InputError(
        fmt::format("{}: 'inputs' must be N x ... floats (float16, bfloat16, float32 or "
                    "float64; N samples, each at least a vector), got {} of {}",
                    origin, fmt::join(inputs.sizes(), "x"), c10::toString(inputs.scalar_type())));
  }
  if (inputs.size(0) == 0 || inputs.numel() == 0) {
    throw InputError(fmt::format("{}: 'inputs' holds no samples", origin));
  }
  inputs = inputs.to(at::kFloat).contiguous();
  if (!inputs.isfinite().all().item<bool>()) {
    throw InputError(fmt::format("{}: 'inputs' holds NaN or infinite values", origin));
  }
  if (task == Task::Regression) return regression_dataset(inputs, targets, origin, outputs);
  return classification_dataset(inputs, targets, origin, outputs);
}

std::shared_ptr<TensorDataset> read_tensor_dataset(const std::string& path, int64_t outputs,
                                                   Task task) {
  return parse_tensor_dataset(read_input_file(path), path, outputs, task);
}

}  // namespace cohort
