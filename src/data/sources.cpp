// [data] format = idx | tensors | images | csv: both splits of a run, the test
// split read in the training split's terms (classes, normalisation).
#include <ATen/ATen.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "cohort/data.h"
#include "cohort/error.h"
#include "registry/lookup.h"

namespace cohort {
namespace {

void require_paths(const DataSource& s) {
  if (s.train.empty() || s.test.empty()) {
    throw InputError(
        fmt::format("data.format = '{}' needs data.train = PATH and data.test = PATH "
                    "(the training and the test split)",
                    s.format));
  }
}

double single(const std::vector<double>& values, double fallback, const char* key) {
  if (values.empty()) return fallback;
  if (values.size() != 1) {
    throw InputError(
        fmt::format("data.{} has {} values, but IDX images have one channel", key, values.size()));
  }
  return values[0];
}

Splits idx_splits(const DataSource& s) {
  const std::string train = training_location(s);
  const std::string test = s.test.empty() ? train : s.test;
  // Fashion-MNIST's training statistics by default, so runs and the Python peer agree.
  const double mean = single(s.mean, 0.2860, "mean"), stddev = single(s.stddev, 0.3530, "std");
  return {load_dataset(train, Split::Train, mean, stddev),
          load_dataset(test, Split::Test, mean, stddev)};
}

Splits tensor_splits(const DataSource& s) {
  require_paths(s);
  auto train = read_tensor_dataset(s.train);
  return {train, read_tensor_dataset(s.test, train->spec().outputs)};
}

Splits image_splits(const DataSource& s) {
  require_paths(s);
  ImageFolder train = load_image_folder(s.train, {}, s.image_size, s.mean, s.stddev);
  const at::Tensor& inputs = train.data->inputs();
  ImageFolder test = load_image_folder(s.test, train.classes, {inputs.size(2), inputs.size(3)},
                                       train.mean, train.stddev, int(inputs.size(1)));
  return {train.data, test.data};
}

Splits csv_splits(const DataSource& s) {
  require_paths(s);
  const CsvTable train = read_csv(s.train, s.target);
  const CsvTable test = read_csv(s.test, s.target);
  if (test.feature_names != train.feature_names) {
    throw InputError(fmt::format("{}: its feature columns ({}) are not the training split's ({})",
                                 s.test, fmt::join(test.feature_names, ", "),
                                 fmt::join(train.feature_names, ", ")));
  }
  // Standardised by the training split's statistics: features of different units
  // would otherwise give one column the gradient of all.
  const at::Tensor mean = train.features.mean(0, true);
  const at::Tensor stddev = train.features.std(0, /*unbiased=*/false, true).clamp_min(1e-6);
  const int64_t classes = train.targets.max().item<int64_t>() + 1;
  const int64_t test_max = test.targets.max().item<int64_t>();
  if (test_max >= classes) {
    throw InputError(
        fmt::format("{}: class {} is not in the training split, whose classes are 0 "
                    "to {}",
                    s.test, test_max, classes - 1));
  }
  return {std::make_shared<TensorDataset>((train.features - mean) / stddev, train.targets, classes),
          std::make_shared<TensorDataset>((test.features - mean) / stddev, test.targets, classes)};
}

// A program's loader, held to what the trainer relies on.
Splits checked_splits(const DataSource& source, const DatasetLoader& load) {
  Splits splits = load(source);
  if (!splits.train || !splits.test) {
    throw InputError(fmt::format("data.format = '{}': its loader returned no {} split",
                                 source.format, splits.train ? "test" : "training"));
  }
  return splits;
}

}  // namespace

std::string training_location(const DataSource& s) {
  if (!s.train.empty()) return s.train;
  return s.path.empty() ? default_data_folder() : s.path;
}

Splits load_splits(const DataSource& source) {
  if (source.format == "idx") return idx_splits(source);
  if (source.format == "tensors") return tensor_splits(source);
  if (source.format == "images") return image_splits(source);
  if (source.format == "csv") return csv_splits(source);
  if (const DatasetLoader* load = registered_dataset(source.format))
    return checked_splits(source, *load);
  throw InputError(fmt::format("data.format = '{}' is not one of: {}", source.format,
                               fmt::join(data_format_names(), ", ")));
}

}  // namespace cohort
