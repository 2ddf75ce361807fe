// The model zoo. Layer names and shapes of `mlp` and `cnn` match the Python peer
// (shared/peers/ddp_fashion.py) so benchmarks compare the same computation.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/pooling.h>

#include <functional>
#include <map>

#include "cohort/error.h"
#include "cohort/models.h"
#include "models/residual_block.h"
#include "registry/lookup.h"

namespace cohort {
namespace {

namespace nn = torch::nn;

void require_positive(const ModelSpec& spec, int64_t value, const char* what) {
  if (value <= 0) {
    throw InputError(fmt::format("model {}: {} must be positive, got {}", spec.name, what, value));
  }
}

nn::Sequential build_mlp(const ModelSpec& spec) {
  const std::vector<int64_t> widths =
      spec.widths.empty() ? std::vector<int64_t>{256, 256} : spec.widths;
  nn::Sequential seq;
  seq->push_back(nn::Flatten());
  int64_t in = 1;
  for (int64_t d : spec.input_shape) in *= d;
  for (int64_t w : widths) {
    require_positive(spec, w, "every width");
    seq->push_back(nn::Linear(in, w));
    seq->push_back(nn::ReLU());
    in = w;
  }
  seq->push_back(nn::Linear(in, spec.num_classes));
  return seq;
}

nn::Sequential build_cnn(const ModelSpec& spec) {
  const int64_t c = spec.channels;
  const int64_t h = spec.input_shape[1] / 4, w = spec.input_shape[2] / 4;
  if (h < 1 || w < 1) throw InputError("model cnn: inputs must be at least 4x4");
  nn::Sequential seq;
  seq->push_back(nn::Conv2d(nn::Conv2dOptions(spec.input_shape[0], c, 3).padding(1)));
  seq->push_back(nn::ReLU());
  seq->push_back(nn::MaxPool2d(2));
  seq->push_back(nn::Conv2d(nn::Conv2dOptions(c, 2 * c, 3).padding(1)));
  seq->push_back(nn::ReLU());
  seq->push_back(nn::MaxPool2d(2));
  seq->push_back(nn::Flatten());
  seq->push_back(nn::Linear(2 * c * h * w, 128));
  seq->push_back(nn::ReLU());
  seq->push_back(nn::Linear(128, spec.num_classes));
  return seq;
}

// A small ResNet for 28x28 inputs: a stem, three stages of one block each
// (28 -> 28 -> 14 -> 7), global average pooling, a linear classifier.
nn::Sequential build_resnet(const ModelSpec& spec) {
  const int64_t c = spec.channels;
  nn::Sequential seq;
  seq->push_back(nn::Conv2d(nn::Conv2dOptions(spec.input_shape[0], c, 3).padding(1).bias(false)));
  seq->push_back(nn::BatchNorm2d(c));
  seq->push_back(nn::ReLU());
  seq->push_back(ResidualBlock(c, c, 1));
  seq->push_back(ResidualBlock(c, 2 * c, 2));
  seq->push_back(ResidualBlock(2 * c, 4 * c, 2));
  seq->push_back(nn::AdaptiveAvgPool2d(nn::AdaptiveAvgPool2dOptions(1)));
  seq->push_back(nn::Flatten());
  seq->push_back(nn::Linear(4 * c, spec.num_classes));
  return seq;
}

const std::map<std::string, std::function<nn::Sequential(const ModelSpec&)>>& registry() {
  static const std::map<std::string, std::function<nn::Sequential(const ModelSpec&)>> models = {
      {"mlp", build_mlp}, {"cnn", build_cnn}, {"resnet", build_resnet}};
  return models;
}

int64_t conv_params(int64_t in, int64_t out, int64_t k, bool bias) {
  return in * out * k * k + (bias ? out : 0);
}
int64_t linear_params(int64_t in, int64_t out) { return in * out + out; }
int64_t batchnorm_params(int64_t c) { return 2 * c; }

int64_t residual_block_params(int64_t in, int64_t out, int64_t stride) {
  int64_t n = conv_params(in, out, 3, false) + batchnorm_params(out) +
              conv_params(out, out, 3, false) + batchnorm_params(out);
  if (stride != 1 || in != out) n += conv_params(in, out, 1, false) + batchnorm_params(out);
  return n;
}

// A program's model, held to what the trainer relies on.
nn::Sequential checked_user_model(const ModelSpec& spec, const ModelBuilder& build) {
  nn::Sequential seq = build(spec);
  if (!seq)
    throw InputError(fmt::format("model {}: its builder returned an empty Sequential", spec.name));
  if (seq->size() == 0 || seq->parameters().empty()) {
    throw InputError(
        fmt::format("model {}: its builder returned a network without parameters", spec.name));
  }
  return seq;
}

}  // namespace

// Mirrors the builders above layer by layer; tests/unit/models_test.cpp holds
// the two to the same count. A registered model's size is known only once built: 0.
double parameter_count(const ModelSpec& spec) {
  if (spec.input_shape.empty() || (spec.name != "mlp" && spec.input_shape.size() != 3)) return 0;
  const int64_t c = spec.channels, classes = spec.num_classes, in_c = spec.input_shape.at(0);
  if (spec.name == "mlp") {
    double in = 1, n = 0;
    for (int64_t d : spec.input_shape) in *= double(d);
    for (int64_t w : spec.widths.empty() ? std::vector<int64_t>{256, 256} : spec.widths) {
      n += in * double(w) + double(w);
      in = double(w);
    }
    return n + in * double(classes) + double(classes);
  }
  if (spec.name == "cnn") {
    const int64_t h = spec.input_shape.at(1) / 4, w = spec.input_shape.at(2) / 4;
    return double(conv_params(in_c, c, 3, true)) + double(conv_params(c, 2 * c, 3, true)) +
           double(2 * c * h * w) * 128 + 128 + double(linear_params(128, classes));
  }
  if (spec.name == "resnet") {
    return double(conv_params(in_c, c, 3, false)) + double(batchnorm_params(c)) +
           double(residual_block_params(c, c, 1)) + double(residual_block_params(c, 2 * c, 2)) +
           double(residual_block_params(2 * c, 4 * c, 2)) + double(linear_params(4 * c, classes));
  }
  return 0;
}

std::vector<std::string> model_names() {
  std::vector<std::string> names = {"mlp", "cnn", "resnet"};
  for (const auto& name : registered_models()) names.push_back(name);
  return names;
}

nn::Sequential build_model(const ModelSpec& spec) {
  auto it = registry().find(spec.name);
  const ModelBuilder* registered = registered_model(spec.name);
  if (it == registry().end() && !registered) {
    throw InputError(fmt::format("unknown model '{}': choose one of {}", spec.name,
                                 fmt::join(model_names(), ", ")));
  }
  require_positive(spec, spec.channels, "channels");
  require_positive(spec, spec.num_classes, "num_classes");
  if (spec.input_shape.empty())
    throw InputError(fmt::format("model {}: the input shape is empty", spec.name));
  for (int64_t d : spec.input_shape) require_positive(spec, d, "every input dimension");
  if (registered) return checked_user_model(spec, *registered);
  // The mlp flattens whatever it is given; the convolutional models need images.
  if (spec.name != "mlp" && spec.input_shape.size() != 3) {
    throw InputError(
        fmt::format("model {} takes images (C x H x W), but the samples are {}: use "
                    "mlp for feature vectors",
                    spec.name, fmt::join(spec.input_shape, "x")));
  }
  return it->second(spec);
}

}  // namespace cohort
