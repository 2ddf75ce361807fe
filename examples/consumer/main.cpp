// Builds a model from Cohort's zoo, trains it for a few steps on Fashion-MNIST
// with plain libtorch, and prints the loss before and after.
#include <cohort/data.h>
#include <cohort/models.h>
#include <torch/torch.h>

#include <iostream>

int main() {
  const auto train = cohort::load_dataset("/usr/share/datasets/fashion-mnist", cohort::Split::Train);
  auto model = cohort::build_model(cohort::ModelSpec{"mlp"});
  torch::optim::SGD sgd(model->parameters(), torch::optim::SGDOptions(0.05).momentum(0.9));
  const cohort::ShardedSampler sampler(train->size(), /*rank=*/0, /*world=*/1, /*seed=*/0);
  const auto order = sampler.indices(0);
  double first = 0, last = 0;
  for (int64_t b = 0; b < 50; ++b) {
    const auto batch = cohort::make_batch(*train, order, b, 64);
    sgd.zero_grad();
    auto loss = torch::cross_entropy_loss(model->forward(batch.inputs), batch.targets);
    loss.backward();
    sgd.step();
    (b == 0 ? first : last) = loss.item<double>();
  }
  std::cout << "loss " << first << " -> " << last << "\n";
  return last < first ? 0 : 1;
}
