// The zoo's mlp and cnn (build_model), sized down to 8x8 inputs so the cooperative
// tests run in milliseconds. Seeded, so "independently initialised" copies are
// reproducible.
#pragma once

#include <torch/torch.h>

#include "cohort/models.h"

namespace cohort::testing {

inline torch::nn::Sequential small_mlp(uint64_t seed, int64_t hidden = 32) {
  torch::manual_seed(seed);
  ModelSpec spec;
  spec.name = "mlp";
  spec.widths = {hidden, hidden};
  spec.input_shape = {1, 8, 8};
  return build_model(spec);
}

inline torch::nn::Sequential small_cnn(uint64_t seed) {
  torch::manual_seed(seed);
  ModelSpec spec;
  spec.name = "cnn";
  spec.channels = 4;
  spec.input_shape = {1, 8, 8};
  return build_model(spec);
}

}  // namespace cohort::testing
