// K zoo networks of one model fused into one array, trained as the fused benches
// time them: SGD lr 0.05 with momentum 0.9 for every copy, each copy's mean
// cross-entropy summed. One definition, so that bench/fused_step_ops splits the
// very step bench/fused_arrays times.
#pragma once

#include <string>
#include <vector>

#include "cohort/fused.h"
#include "cohort/models.h"

struct FusedTraining {
  FusedTraining(const std::string& model, int64_t copies, cohort::FusedKernels kernels)
      : fused(copies_of(model, copies)),
        sgd(fused->parameters(), std::vector<double>(copies, 0.05), {0.9}) {
    fused->use_kernels(kernels);
  }

  void step(const at::Tensor& x, const at::Tensor& y) {
    sgd.zero_grad();
    cohort::fused_cross_entropy(fused->forward(x), y).sum().backward();
    sgd.step();
  }

  cohort::FusedArray fused;
  cohort::FusedSGD sgd;

 private:
  static std::vector<torch::nn::Sequential> copies_of(const std::string& model, int64_t copies) {
    std::vector<torch::nn::Sequential> models;
    for (int64_t k = 0; k < copies; ++k)
      models.push_back(cohort::build_model(cohort::ModelSpec{model}));
    return models;
  }
};
