// Small models with the layer sequences of the zoo's mlp and cnn (see
// /work/shared/peers/ddp_fashion.py), sized down so the cooperative tests run in
// seconds. Seeded, so "independently initialised" copies are reproducible.
#pragma once

#include <torch/torch.h>

namespace cohort::testing {

inline torch::nn::Sequential small_mlp(uint64_t seed, int64_t hidden = 32) {
  torch::manual_seed(seed);
  return torch::nn::Sequential(torch::nn::Flatten(), torch::nn::Linear(1 * 8 * 8, hidden),
                               torch::nn::ReLU(), torch::nn::Linear(hidden, hidden),
                               torch::nn::ReLU(), torch::nn::Linear(hidden, 10));
}

inline torch::nn::Sequential small_cnn(uint64_t seed) {
  namespace nn = torch::nn;
  torch::manual_seed(seed);
  return nn::Sequential(nn::Conv2d(nn::Conv2dOptions(1, 4, 3).padding(1)), nn::ReLU(),
                        nn::MaxPool2d(2), nn::Conv2d(nn::Conv2dOptions(4, 8, 3).padding(1)),
                        nn::ReLU(), nn::MaxPool2d(2), nn::Flatten(), nn::Linear(8 * 2 * 2, 16),
                        nn::ReLU(), nn::Linear(16, 10));
}

}  // namespace cohort::testing
