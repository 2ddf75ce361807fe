// The model zoo. Every model is an ordered torch::nn::Sequential of layers, so the
// pipeline partitioner can cut it into stages and fused arrays can batch copies.
#pragma once

#include <torch/nn/modules/container/sequential.h>

#include <cstdint>
#include <string>
#include <vector>

namespace cohort {

struct ModelSpec {
  std::string name = "cnn";          // mlp | cnn | resnet | a registered model
  std::vector<int64_t> widths = {};  // mlp hidden widths (default 256, 256)
  int64_t channels = 32;             // cnn/resnet base channel count
  // Set from the data by the trainer (the zoo fits the data); these defaults
  // are Fashion-MNIST's.
  int64_t num_classes = 10;
  std::vector<int64_t> input_shape = {1, 28, 28};  // one sample: C, H, W (any shape for mlp)
};

// The zoo's names, then the program's registered models (for --help and errors).
std::vector<std::string> model_names();

// Builds a freshly initialised model; unknown names and impossible sizes raise
// InputError naming the model and the valid choices.
torch::nn::Sequential build_model(const ModelSpec& spec);

// The number of trainable parameters build_model(spec) would make, computed
// without allocating them (a double: a mistyped width can overflow int64), so
// that a network too large for memory is refused before it is built. 0 for an
// unknown model, a registered one (include/cohort/registry.h) or an input shape
// it cannot take (build_model says why).
double parameter_count(const ModelSpec& spec);

}  // namespace cohort
