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

// IDX files and image folders hold class labels: nothing to regress on.
void require_classification(const DataSource& s) {
  if (parse_task(s.task) != Task::Classification) {
    throw InputError(fmt::format(
        "data.task = '{}' needs real-valued targets, which data.format = '{}' does not hold: "
        "use a tensor file or CSV (data.format = 'tensors' or 'csv')",
        s.task, s.format));
  }
}

Splits idx_splits(const DataSource& s) {
  require_classification(s);
  const std::string train = training_location(s);
  const std::string test = s.test.empty() ? train : s.test;
  // Fashion-MNIST's training statistics by default, so runs and the Python peer agree.
  const double mean = single(s.mean, 0.2860, "mean"), stddev = single(s.stddev, 0.3530, "std");
  return {load_dataset(train, Split::Train, mean, stddev),
          load_dataset(test, Split::Test, mean, stddev)};
}

Splits tensor_splits(const DataSource& s) {
  require_paths(s);
  const Task task = parse_task(s.task);
  auto train = read_tensor_dataset(s.train, 0, task);
  return {train, read_tensor_dataset(s.test, train->spec().outputs, task)};
}

Splits image_splits(const DataSource& s) {
  require_classification(s);
  require_paths(s);
  ImageFolder train = load_image_folder(s.train, {}, s.image_size, s.mean, s.stddev);
  const at::Tensor& inputs = train.data->inputs();
  ImageFolder test = load_image_folder(s.test, train.classes, {inputs.size(2), inputs.size(3)},
                                       train.mean, train.stddev, int(inputs.size(1)));
  return {train.data, test.data};
}

// The test split's targets in the training split's terms: its classes, or its
// number of regression targets (one: the target column).
std::shared_ptr<TensorDataset> csv_dataset(const CsvTable& table, const at::Tensor& features,
                                           Task task, int64_t classes) {
  if (task == Task::Regression)
    return std::make_shared<TensorDataset>(features, table.targets, task, 1);
  return std::make_shared<TensorDataset>(features, table.targets, classes);
}

Splits csv_splits(const DataSource& s) {
  require_paths(s);
  const Task task = parse_task(s.task);
  const CsvTable train = read_csv(s.train, s.target, task);
  const CsvTable test = read_csv(s.test, s.target, task);
  if (test.feature_names != train.feature_names) {
    throw InputError(fmt::format("{}: its feature columns ({}) are not the training split's ({})",
                                 s.test, fmt::join(test.feature_names, ", "),
                                 fmt::join(train.feature_names, ", ")));
  }
  // Standardised by the training split's statistics: features of different units
  // would otherwise give one column the gradient of all.
  const at::Tensor mean = train.features.mean(0, true);
  const at::Tensor stddev = train.features.std(0, /*unbiased=*/false, true).clamp_min(1e-6);
  int64_t classes = 0;
  if (task == Task::Classification) {
    classes = train.targets.max().item<int64_t>() + 1;
    const int64_t test_max = test.targets.max().item<int64_t>();
    if (test_max >= classes) {
      throw InputError(
          fmt::format("{}: class {} is not in the training split, whose classes are 0 "
                      "to {}",
                      s.test, test_max, classes - 1));
    }
  }
  return {csv_dataset(train, (train.features - mean) / stddev, task, classes),
          csv_dataset(test, (test.features - mean) / stddev, task, classes)};
}

// A program's loader, held to what the trainer relies on.
Splits checked_splits(const DataSource& source, const DatasetLoader& load) {
  Splits splits = load(source);
  if (!splits.train || !splits.test) {
    throw InputError(fmt::format("data.format = '{}': its loader returned no {} split",
                                 source.format, splits.train ? "test" : "training"));
  }
  const Task task = splits.train->spec().task;
  if (task != parse_task(source.task)) {
    throw InputError(
        fmt::format("data.format = '{}' holds {} data but data.task = '{}': set data.task = '{}'",
                    source.format, task_name(task), source.task, task_name(task)));
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
