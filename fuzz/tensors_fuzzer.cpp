// A tensor file's bytes (torch.save({"inputs": X, "targets": Y})) as
// read_tensor_dataset gets them, read as classes and as regression targets. Bad
// input must end in InputError.
#include <ATen/ATen.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "cohort/data.h"
#include "cohort/error.h"
#include "fuzz_check.h"

namespace {

void check_classes(const std::vector<char>& bytes) {
  std::shared_ptr<cohort::TensorDataset> d;
  try {
    d = cohort::parse_tensor_dataset(bytes, "fuzz.pt");
  } catch (const cohort::InputError&) {
    return;
  }
  const at::Tensor &x = d->inputs(), &y = d->targets();
  FUZZ_CHECK(x.scalar_type() == at::kFloat && y.scalar_type() == at::kLong, "dtypes");
  FUZZ_CHECK(x.dim() >= 2 && y.dim() == 1 && x.size(0) == y.size(0) && d->size() == y.size(0),
             "%ld inputs, %ld targets", long(x.size(0)), long(y.size(0)));
  FUZZ_CHECK(y.min().item<int64_t>() >= 0 && y.max().item<int64_t>() < d->spec().outputs,
             "targets outside the classes");
}

void check_regression(const std::vector<char>& bytes) {
  std::shared_ptr<cohort::TensorDataset> d;
  try {
    d = cohort::parse_tensor_dataset(bytes, "fuzz.pt", 0, cohort::Task::Regression);
  } catch (const cohort::InputError&) {
    return;
  }
  const at::Tensor &x = d->inputs(), &y = d->targets();
  FUZZ_CHECK(x.scalar_type() == at::kFloat && y.scalar_type() == at::kFloat, "dtypes");
  FUZZ_CHECK(y.dim() == 2 && x.size(0) == y.size(0) && y.size(1) == d->spec().outputs,
             "%ld inputs, targets of rank %ld", long(x.size(0)), long(y.dim()));
  FUZZ_CHECK(y.isfinite().all().item<bool>(), "a target is not finite");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::vector<char> bytes(data, data + size);
  check_classes(bytes);
  check_regression(bytes);
  return 0;
}
