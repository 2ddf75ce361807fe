// IDX bytes, plain or gzip, as read_idx gets them from a file. Bad input must end
// in InputError; a crash, a sanitizer report, another exception, a hang or an
// allocation over libFuzzer's limit is a finding.
#include <ATen/ATen.h>

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "cohort/data.h"
#include "cohort/error.h"
#include "fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  at::Tensor t;
  try {
    t = cohort::parse_idx(bytes, "fuzz.idx");
  } catch (const cohort::InputError&) {
    return 0;
  }
  FUZZ_CHECK(t.is_contiguous() && t.dim() >= 1 && t.dim() <= 4, "dim %ld", long(t.dim()));
  const bool gzip = size >= 2 && data[0] == 0x1f && data[1] == 0x8b;
  if (!gzip) {
    // A plain file is exactly header + elements: nothing read past it, nothing left over.
    const size_t header = 4 + 4 * size_t(t.dim());
    FUZZ_CHECK(header + size_t(t.numel()) * t.element_size() == size, "%zu bytes for %ld elements",
               size, long(t.numel()));
  }
  return 0;
}
