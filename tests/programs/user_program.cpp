// A user's program as the tests see one: a model, a dataset and an optimiser
// choice that exist only here, registered by name, then Cohort's command line. The script tests
// train it in every mode and on every data source (tests/scripts/user_model_modes.sh).
#include <ATen/CPUGeneratorImpl.h>
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/linear.h>
#include <torch/optim/rmsprop.h>

#include "cohort/cli.h"
#include "cohort/registry.h"

namespace {

// A layer the zoo does not have: a residual block around one linear map.
struct SkipLinearImpl : torch::nn::Module {
  explicit SkipLinearImpl(int64_t width)
      : linear(register_module("linear", torch::nn::Linear(width, width))) {}
  at::Tensor forward(const at::Tensor& x) { return x + at::relu(linear(x)); }
  torch::nn::Linear linear;
};
TORCH_MODULE(SkipLinear);

// A sequence of layers, so pipelines can cut it (five places to cut).
torch::nn::Sequential user_net(const cohort::ModelSpec& spec) {
  int64_t features = 1;
  for (int64_t d : spec.input_shape) features *= d;
  const int64_t width = spec.widths.empty() ? 32 : spec.widths.front();
  return torch::nn::Sequential(torch::nn::Flatten(), torch::nn::Linear(features, width),
                               torch::nn::ReLU(), SkipLinear(width), SkipLinear(width),
                               torch::nn::Linear(width, spec.num_classes));
}

// Layers a fused array knows (Linear, ReLU, Flatten): K copies train as one model.
torch::nn::Sequential user_plain(const cohort::ModelSpec& spec) {
  int64_t features = 1;
  for (int64_t d : spec.input_shape) features *= d;
  const int64_t width = spec.widths.empty() ? 32 : spec.widths.front();
  return torch::nn::Sequential(torch::nn::Flatten(), torch::nn::Linear(features, width),
                               torch::nn::ReLU(), torch::nn::Linear(width, spec.num_classes));
}

// Three Gaussian blobs in 12 features, the same on every rank (its own generator).
cohort::Splits user_blobs(const cohort::DataSource&) {
  at::Generator gen = at::detail::createCPUGenerator(5);
  const at::Tensor centres = at::randn({3, 12}, gen) * 2;
  auto draw = [&](int64_t n) {
    const at::Tensor targets = at::arange(n, at::kLong) % 3;
    const at::Tensor inputs = centres.index_select(0, targets) + at::randn({n, 12}, gen);
    return std::make_shared<cohort::TensorDataset>(inputs, targets, 3);
  };
  return {draw(960), draw(300)};
}

// An optimiser Cohort has no name for, configured from the network's keys.
std::unique_ptr<torch::optim::Optimizer> user_rmsprop(std::vector<at::Tensor> parameters,
                                                      const cohort::NetworkConfig& net) {
  return std::make_unique<torch::optim::RMSprop>(
      std::move(parameters),
      torch::optim::RMSpropOptions(net.lr).momentum(net.momentum).weight_decay(net.weight_decay));
}

}  // namespace

int main(int argc, char** argv) {
  cohort::register_model("user_net", user_net);
  cohort::register_model("user_plain", user_plain);
  cohort::register_dataset("user_blobs", user_blobs);
  cohort::register_optimizer("user_rmsprop", user_rmsprop);
  return cohort::run_command_line(argc, argv);
}
