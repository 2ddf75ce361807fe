// PNG through libpng's simplified API, JPEG through libjpeg-turbo's TurboJPEG API:
// both convert any colour type to the grayscale or RGB asked for, and both are
// fuzzed upstream. The format is told by the file's first bytes, not its name.
#include <ATen/ATen.h>
#include <fmt/format.h>
#include <png.h>
#include <turbojpeg.h>

#include <cstring>
#include <memory>

#include "cohort/data.h"
#include "cohort/error.h"

namespace cohort {
namespace {

// 64 megapixels: far past any training image, small enough that a corrupt header
// claiming more is refused before it is allocated.
constexpr int64_t kMaxPixels = int64_t{1} << 26;

bool starts_with(std::string_view bytes, std::string_view magic) {
  return bytes.size() >= magic.size() && bytes.substr(0, magic.size()) == magic;
}

void check_size(int64_t width, int64_t height, const std::string& origin) {
  if (width < 1 || height < 1 || width * height > kMaxPixels) {
    throw InputError(
        fmt::format("{}: corrupt image: it claims {}x{} pixels", origin, width, height));
  }
}

// H x W x C bytes as C x H x W.
at::Tensor channels_first(at::Tensor hwc) { return hwc.permute({2, 0, 1}).contiguous(); }

at::Tensor decode_png(std::string_view bytes, const std::string& origin, int channels) {
  png_image image;
  std::memset(&image, 0, sizeof image);
  image.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_memory(&image, bytes.data(), bytes.size())) {
    throw InputError(fmt::format("{}: corrupt or truncated PNG: {}", origin, image.message));
  }
  // png_image_free is a no-op after finish_read, which frees on every path.
  std::unique_ptr<png_image, void (*)(png_imagep)> guard(&image, png_image_free);
  check_size(image.width, image.height, origin);
  if (channels == 0) channels = (image.format & PNG_FORMAT_FLAG_COLOR) ? 3 : 1;
  image.format = channels == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
  // Zeros: an image with alpha is composited onto black.
  at::Tensor out = at::zeros({int64_t(image.height), int64_t(image.width), channels}, at::kByte);
  if (!png_image_finish_read(&image, nullptr, out.data_ptr(), 0, nullptr)) {
    throw InputError(fmt::format("{}: corrupt or truncated PNG: {}", origin, image.message));
  }
  return channels_first(out);
}

at::Tensor decode_jpeg(std::string_view bytes, const std::string& origin, int channels) {
  std::unique_ptr<void, int (*)(tjhandle)> handle(tjInitDecompress(), tjDestroy);
  if (!handle) throw std::bad_alloc();
  auto* data = reinterpret_cast<const unsigned char*>(bytes.data());
  const auto size = static_cast<unsigned long>(bytes.size());
  int width = 0, height = 0, subsampling = 0, colorspace = 0;
  if (tjDecompressHeader3(handle.get(), data, size, &width, &height, &subsampling, &colorspace) !=
      0) {
    throw InputError(
        fmt::format("{}: corrupt or truncated JPEG: {}", origin, tjGetErrorStr2(handle.get())));
  }
  check_size(width, height, origin);
  if (channels == 0) channels = colorspace == TJCS_GRAY ? 1 : 3;
  at::Tensor out = at::empty({height, width, channels}, at::kByte);
  // A warning ("premature end of JPEG file") means pixels were made up: refuse.
  if (tjDecompress2(handle.get(), data, size, out.data_ptr<uint8_t>(), width, 0, height,
                    channels == 1 ? TJPF_GRAY : TJPF_RGB, TJFLAG_STOPONWARNING) != 0) {
    throw InputError(
        fmt::format("{}: corrupt or truncated JPEG: {}", origin, tjGetErrorStr2(handle.get())));
  }
  return channels_first(out);
}

}  // namespace

at::Tensor decode_image(std::string_view bytes, const std::string& origin, int channels) {
  if (channels != 0 && channels != 1 && channels != 3) {
    throw InputError(fmt::format("{}: images decode to 1 or 3 channels, not {}", origin, channels));
  }
  if (starts_with(bytes, "\x89PNG\r\n\x1a\n")) return decode_png(bytes, origin, channels);
  if (starts_with(bytes, "\xff\xd8\xff")) return decode_jpeg(bytes, origin, channels);
  throw InputError(fmt::format("{}: not a PNG or JPEG image (by its first bytes)", origin));
}

}  // namespace cohort
