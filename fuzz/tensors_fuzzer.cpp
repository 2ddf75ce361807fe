// A tensor file's bytes (torch.save({"inputs": X, "targets": Y})) as
// read_tensor_dataset gets them. Bad input must end in InputError.
#include <ATen/ATen.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "cohort/data.h"
#include "cohort/error.h"
#include "fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::vector<char> bytes(data, data + size);
  std::shared_ptr<cohort::TensorDataset> d;
  try {
    d = cohort::parse_tensor_dataset(bytes, "fuzz.pt");
  } catch (const cohort::InputError&) {
    return 0;
  }
  const at::Tensor &x = d->inputs(), &y = d->targets();
  FUZZ_CHECK(x.scalar_type() == at::kFloat && y.scalar_type() == at::kLong, "dtypes");
  FUZZ_CHECK(x.dim() >= 2 && y.dim() == 1 && x.size(0) == y.size(0) && d->size() == y.size(0),
             "%ld inputs, %ld targets", long(x.size(0)), long(y.size(0)));
  FUZZ_CHECK(y.min().item<int64_t>() >= 0 && y.max().item<int64_t>() < d->spec().outputs,
             "targets outside the classes");
  return 0;
}
