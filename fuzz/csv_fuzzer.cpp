// CSV text as read_csv gets it from a file, the target column named after a NUL
// byte (or the last column when there is none); an odd length reads it as a
// regression. Bad input must end in InputError.
#include <ATen/ATen.h>

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "cohort/data.h"
#include "cohort/error.h"
#include "fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t nul = input.find('\0');
  const std::string_view text = input.substr(0, nul);
  const std::string target(nul == std::string_view::npos ? "" : input.substr(nul + 1));
  const cohort::Task task = size % 2 ? cohort::Task::Regression : cohort::Task::Classification;
  cohort::CsvTable t;
  try {
    t = cohort::parse_csv(text, "fuzz.csv", target, task);
  } catch (const cohort::InputError&) {
    return 0;
  }
  const int64_t rows = t.targets.size(0);
  FUZZ_CHECK(rows >= 1 && t.features.dim() == 2 && t.features.size(0) == rows, "%ld rows",
             long(rows));
  FUZZ_CHECK(t.features.size(1) == int64_t(t.feature_names.size()), "%ld features, %zu names",
             long(t.features.size(1)), t.feature_names.size());
  FUZZ_CHECK(t.features.isfinite().all().item<bool>(), "a feature is not finite");
  if (task == cohort::Task::Regression) {
    FUZZ_CHECK(t.targets.dim() == 2 && t.targets.isfinite().all().item<bool>(), "targets");
  } else {
    FUZZ_CHECK(t.targets.min().item<int64_t>() >= 0, "a negative target");
  }
  return 0;
}
