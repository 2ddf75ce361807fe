// Image bytes (PNG or JPEG) as an image folder's reader gets them from a file; the
// first byte picks the channels asked for (0: the file's own, 1 or 3). Bad input
// must end in InputError, never in a decoder's crash or an outsized allocation.
#include <ATen/ATen.h>

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "cohort/data.h"
#include "cohort/error.h"
#include "fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const int asked = (data[0] % 3 == 0) ? 0 : (data[0] % 3 == 1 ? 1 : 3);
  const std::string_view bytes(reinterpret_cast<const char*>(data + 1), size - 1);
  at::Tensor image;
  try {
    image = cohort::decode_image(bytes, "fuzz.img", asked);
  } catch (const cohort::InputError&) {
    return 0;
  }
  FUZZ_CHECK(image.dim() == 3 && image.scalar_type() == at::kByte && image.is_contiguous(),
             "dim %ld", long(image.dim()));
  FUZZ_CHECK(asked == 0 ? (image.size(0) == 1 || image.size(0) == 3) : image.size(0) == asked,
             "%ld channels, asked %d", long(image.size(0)), asked);
  FUZZ_CHECK(image.size(1) >= 1 && image.size(2) >= 1, "%ldx%ld", long(image.size(1)),
             long(image.size(2)));
  return 0;
}
