// A folder of IDX files in MNIST's naming: {train,t10k}-images-idx3-ubyte and
// {train,t10k}-labels-idx1-ubyte, each plain or gzip.
#include <ATen/ATen.h>
#include <fmt/format.h>

#include <filesystem>

#include "cohort/data.h"
#include "cohort/error.h"

namespace cohort {
namespace {

std::string find_file(const std::string& folder, const std::string& stem) {
  for (const char* suffix : {".gz", ""}) {
    const auto path = std::filesystem::path(folder) / (stem + suffix);
    if (std::filesystem::exists(path)) return path.string();
  }
  throw InputError(
      fmt::format("{}: no {} or {}.gz (install dataset-fashion-mnist, or set "
                  "data.path to a folder of IDX files)",
                  folder, stem, stem));
}

}  // namespace

std::string default_data_folder() { return COHORT_DEFAULT_DATA; }

std::shared_ptr<TensorDataset> load_dataset(const std::string& folder, Split split, double mean,
                                            double stddev) {
  if (!std::filesystem::is_directory(folder)) {
    throw InputError(fmt::format(
        "data folder {} {} (set data.path, or install "
        "dataset-fashion-mnist)",
        folder, std::filesystem::exists(folder) ? "is a file, not a folder" : "does not exist"));
  }
  const std::string prefix = split == Split::Train ? "train" : "t10k";
  const std::string images_path = find_file(folder, prefix + "-images-idx3-ubyte");
  const std::string labels_path = find_file(folder, prefix + "-labels-idx1-ubyte");
  at::Tensor images = read_idx(images_path);
  at::Tensor labels = read_idx(labels_path);
  if (images.dim() != 3 || images.scalar_type() != at::kByte) {
    throw InputError(fmt::format("{}: expected N x H x W unsigned bytes, got rank {}", images_path,
                                 images.dim()));
  }
  if (labels.dim() != 1 || labels.scalar_type() != at::kByte) {
    throw InputError(fmt::format("{}: expected a vector of unsigned bytes", labels_path));
  }
  if (images.size(0) != labels.size(0)) {
    throw InputError(fmt::format("{} has {} images but {} has {} labels", images_path,
                                 images.size(0), labels_path, labels.size(0)));
  }
  // MNIST's layout has ten classes, 0 to 9.
  if (labels.max().item<int64_t>() > 9) {
    throw InputError(
        fmt::format("{}: label {} is outside 0..9", labels_path, labels.max().item<int64_t>()));
  }
  at::Tensor inputs =
      images.to(at::kFloat).div_(255.0).sub_(mean).div_(stddev).unsqueeze(1).contiguous();
  return std::make_shared<TensorDataset>(inputs, labels.to(at::kLong).contiguous(), 10);
}

}  // namespace cohort
