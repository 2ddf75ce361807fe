// Image folders in torchvision's ImageFolder layout: ROOT/<class>/<image>, one
// sub-folder per class, classes in sorted order; files that are not .png, .jpg or
// .jpeg are skipped, as torchvision skips them.
#include <ATen/ATen.h>
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <filesystem>

#include "cohort/data.h"
#include "cohort/error.h"
#include "io/input_file.h"

namespace cohort {
namespace {

namespace fs = std::filesystem;

bool is_image_file(const fs::path& path) {
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg";
}

std::vector<fs::path> sorted_entries(const fs::path& folder, bool folders) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(folder, ec)) {
    if (folders ? entry.is_directory() : (entry.is_regular_file() && is_image_file(entry.path())))
      out.push_back(entry.path());
  }
  if (ec) throw InputError(fmt::format("{}: cannot list: {}", folder.string(), ec.message()));
  std::sort(out.begin(), out.end());
  return out;
}

// (x / 255 - mean) / std per channel, mean and std taken from `images` when not given.
void normalise(at::Tensor& images, std::vector<double>& mean, std::vector<double>& stddev,
               const std::string& root) {
  const int64_t channels = images.size(1);
  images.div_(255.0);
  if (mean.empty()) {
    const at::Tensor m = images.mean({0, 2, 3}, false, at::kDouble);
    mean.assign(m.data_ptr<double>(), m.data_ptr<double>() + channels);
  }
  if (stddev.empty()) {
    const at::Tensor s = images.to(at::kDouble).std({0, 2, 3}, /*unbiased=*/false);
    // A channel that never changes is centred, not divided by zero.
    for (int64_t c = 0; c < channels; ++c) stddev.push_back(std::max(s[c].item<double>(), 1e-6));
  }
  if (int64_t(mean.size()) != channels || int64_t(stddev.size()) != channels) {
    throw InputError(
        fmt::format("{}: the images have {} channels but data.mean and data.std give "
                    "{} and {} values: give one per channel",
                    root, channels, mean.size(), stddev.size()));
  }
  const auto per_channel = [&](const std::vector<double>& v) {
    return at::tensor(v, at::kDouble).to(at::kFloat).view({1, channels, 1, 1});
  };
  images.sub_(per_channel(mean)).div_(per_channel(stddev));
}

}  // namespace

ImageFolder load_image_folder(const std::string& root, const std::vector<std::string>& classes,
                              std::vector<int64_t> size, std::vector<double> mean,
                              std::vector<double> stddev, int channels) {
  if (!fs::is_directory(root)) {
    throw InputError(fmt::format("{}: {}: an image folder holds one sub-folder of images per class",
                                 root, fs::exists(root) ? "is a file" : "does not exist"));
  }
  if (!size.empty() && (size.size() != 2 || size[0] < 1 || size[1] < 1)) {
    throw InputError("data.size must be [H, W], two positive numbers");
  }
  ImageFolder out;
  out.classes = classes;
  const auto folders = sorted_entries(root, true);
  if (classes.empty())
    for (const auto& f : folders) out.classes.push_back(f.filename().string());
  if (out.classes.empty()) {
    throw InputError(
        fmt::format("{}: has no sub-folders: put each class's images in a folder of "
                    "its own (ROOT/<class>/<image>.png)",
                    root));
  }
  std::vector<at::Tensor> images;
  std::vector<int64_t> labels;
  for (const auto& folder : folders) {
    const std::string name = folder.filename().string();
    const auto it = std::find(out.classes.begin(), out.classes.end(), name);
    if (it == out.classes.end()) {
      throw InputError(fmt::format("{}: class '{}' is not among the training split's {} classes",
                                   folder.string(), name, out.classes.size()));
    }
    const auto files = sorted_entries(folder, false);
    if (files.empty() && classes.empty()) {
      throw InputError(fmt::format("{}: holds no .png, .jpg or .jpeg file", folder.string()));
    }
    for (const auto& file : files) {
      const std::vector<char> bytes = read_input_file(file.string());
      at::Tensor image =
          decode_image(std::string_view(bytes.data(), bytes.size()), file.string(), channels);
      channels = int(image.size(0));  // the first image's, when not given
      if (size.empty()) size = {image.size(1), image.size(2)};
      image = image.to(at::kFloat).unsqueeze(0);
      if (image.size(2) != size[0] || image.size(3) != size[1])
        image = at::upsample_bilinear2d(image, {size[0], size[1]}, /*align_corners=*/false);
      images.push_back(image.round_().clamp_(0, 255));
      labels.push_back(it - out.classes.begin());
    }
  }
  if (images.empty()) throw InputError(fmt::format("{}: holds no images", root));
  at::Tensor inputs = at::cat(images);
  normalise(inputs, mean, stddev, root);
  out.mean = mean;
  out.stddev = stddev;
  out.data = std::make_shared<TensorDataset>(inputs, at::tensor(labels, at::kLong),
                                             int64_t(out.classes.size()));
  return out;
}

}  // namespace cohort
