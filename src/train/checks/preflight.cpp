#include "train/checks/preflight.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/types.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <string>

#include "cohort/error.h"
#include "cohort/models.h"

namespace cohort {
namespace {

// /proc/meminfo's estimate of what can be allocated without swapping, or the
// physical memory where it is missing.
double available_bytes() {
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  double kib = 0;
  std::string unit;
  while (meminfo >> key >> kib >> unit)
    if (key == "MemAvailable:") return kib * 1024;
  return double(::sysconf(_SC_PHYS_PAGES)) * double(::sysconf(_SC_PAGESIZE));
}

std::string shape_text(at::IntArrayRef sizes) { return fmt::format("{}", fmt::join(sizes, "x")); }

double optimizer_states(const std::string& optimizer) { return optimizer == "sgd" ? 1 : 2; }

}  // namespace

double training_bytes(const NetworkConfig& network) {
  constexpr double kBytesPerValue = 4;
  // The parameters, their gradients, the optimiser's state and a checkpoint copy.
  const double copies = 3 + optimizer_states(network.optimizer);
  return parameter_count(network.model) * copies * kBytesPerValue;
}

void check_memory(const Config& config) {
  const double available = available_bytes();
  double total = 0;
  for (size_t i = 0; i < config.networks.size(); ++i) {
    const auto& n = config.networks[i];
    const double needed = training_bytes(n);
    total += needed;
    if (total <= available) continue;
    throw InputError(fmt::format(
        "network.{} ({}, {:.3g} parameters) needs about {:.1f} GB to train{}, more than the "
        "{:.1f} GB this machine has available: make it smaller (widths, channels)",
        i, n.model.name, parameter_count(n.model), needed / 1e9,
        i > 0 ? fmt::format(" ({:.1f} GB with the networks before it)", total / 1e9) : "",
        available / 1e9));
  }
}

void check_datasets(const DataSource& source, const Dataset& train, const Dataset& test) {
  const std::string origin = training_location(source);
  const SampleSpec train_spec = train.spec(), test_spec = test.spec();
  if (train_spec.input_shape != test_spec.input_shape) {
    throw InputError(
        fmt::format("{}: the test samples are {}, the training samples {}: both splits "
                    "must hold samples of one shape",
                    origin, shape_text(test_spec.input_shape), shape_text(train_spec.input_shape)));
  }
  const char* outputs = train_spec.task == Task::Regression ? "targets" : "classes";
  if (train_spec.task != test_spec.task) {
    throw InputError(fmt::format("{}: the training split is for {}, the test split for {}", origin,
                                 task_name(train_spec.task), task_name(test_spec.task)));
  }
  if (train_spec.outputs != test_spec.outputs) {
    throw InputError(fmt::format("{}: the training split has {} {}, the test split {}", origin,
                                 train_spec.outputs, outputs, test_spec.outputs));
  }
  if (train.size() < 1 || test.size() < 1 || train_spec.outputs < 1) {
    throw InputError(fmt::format("{}: a split holds no samples or no {}", origin, outputs));
  }
  if (source.format == "idx" && train.size() < test.size()) {
    throw InputError(fmt::format(
        "{}: the training split has fewer samples ({}) than the test split ({}): are the train-* "
        "and t10k-* files swapped?",
        origin, train.size(), test.size()));
  }
}

Config fit_to_data(Config config, const SampleSpec& data) {
  for (auto& n : config.networks) {
    n.model.input_shape = data.input_shape;
    n.model.num_classes = data.outputs;
  }
  return config;
}

void check_network_accepts(Network& net, const Dataset& train, size_t index) {
  const int64_t n = std::min<int64_t>(2, train.size());
  if (n == 0) return;
  const bool was_training = net.model->is_training();
  net.model->eval();
  at::Tensor out;
  try {
    torch::NoGradGuard no_grad;
    const auto device =
        net.parameters.empty() ? c10::Device(c10::kCPU) : net.parameters[0].device();
    out = net.model->forward(train.slice(0, n).inputs.to(device));
  } catch (const c10::Error& e) {
    net.model->train(was_training);
    const std::string what = e.what_without_backtrace();
    throw InputError(fmt::format("network.{} ({}) cannot take the training samples: {}", index,
                                 net.config.model.name, what.substr(0, what.find('\n'))));
  }
  net.model->train(was_training);
  if (out.dim() != 2 || out.size(0) != n || out.size(1) != net.config.model.num_classes) {
    const bool regression = train.spec().task == Task::Regression;
    throw InputError(fmt::format("network.{} ({}) maps {} samples to {}, not {}x{} {}", index,
                                 net.config.model.name, n, shape_text(out.sizes()), n,
                                 net.config.model.num_classes,
                                 regression ? "predictions (one per target)" : "class scores"));
  }
}

}  // namespace cohort
