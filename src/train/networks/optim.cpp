#include "cohort/optim.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/nn/utils/clip_grad.h>
#include <torch/optim/adam.h>
#include <torch/optim/adamw.h>
#include <torch/optim/sgd.h>

#include <cmath>

#include "cohort/error.h"
#include "registry/lookup.h"

namespace cohort {

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const NetworkConfig& net,
                                                        std::vector<at::Tensor> parameters) {
  namespace optim = torch::optim;
  if (net.optimizer == "sgd") {
    return std::make_unique<optim::SGD>(
        std::move(parameters), optim::SGDOptions(net.lr).momentum(net.momentum)
                                   .nesterov(net.nesterov).weight_decay(net.weight_decay));
  }
  if (net.optimizer == "adam") {
    return std::make_unique<optim::Adam>(
        std::move(parameters), optim::AdamOptions(net.lr).betas({net.beta1, net.beta2})
                                   .eps(net.eps).weight_decay(net.weight_decay));
  }
  if (net.optimizer == "adamw") {
    return std::make_unique<optim::AdamW>(
        std::move(parameters), optim::AdamWOptions(net.lr).betas({net.beta1, net.beta2})
                                   .eps(net.eps).weight_decay(net.weight_decay));
  }
  if (const OptimizerBuilder* build = registered_optimizer(net.optimizer)) {
    auto optimizer = (*build)(std::move(parameters), net);
    if (!optimizer) {
      throw InputError(
          fmt::format("optimizer '{}' (registered): its builder returned none", net.optimizer));
    }
    return optimizer;
  }
  throw InputError(fmt::format("unknown optimizer '{}': choose one of {}", net.optimizer,
                               fmt::join(optimizer_names(), ", ")));
}

double learning_rate_at(const NetworkConfig& net, int64_t step, int64_t total_steps) {
  if (step < net.warmup_steps) {
    return net.lr * double(step + 1) / double(net.warmup_steps);
  }
  const int64_t t = step - net.warmup_steps;
  if (net.schedule == "step") {
    return net.lr * std::pow(net.gamma, double(t / net.step_size));
  }
  if (net.schedule == "cosine") {
    const int64_t span = std::max<int64_t>(1, total_steps - net.warmup_steps);
    const double progress = std::min(1.0, double(t) / double(span));
    return net.min_lr + 0.5 * (net.lr - net.min_lr) * (1.0 + std::cos(M_PI * progress));
  }
  return net.lr;
}

void set_learning_rate(torch::optim::Optimizer& optimizer, double lr) {
  for (auto& group : optimizer.param_groups()) group.options().set_lr(lr);
}

double clip_gradients(const std::vector<at::Tensor>& parameters, double max_norm) {
  if (max_norm <= 0) return 0.0;
  return torch::nn::utils::clip_grad_norm_(parameters, max_norm);
}

}  // namespace cohort
