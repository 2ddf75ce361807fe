#include <ATen/ATen.h>
#include <torch/nn/functional/loss.h>

#include "cohort/evaluate.h"

namespace cohort {

Evaluation evaluate(torch::nn::Sequential& model, const Dataset& data, at::Tensor* probs,
                    int64_t chunk) {
  at::NoGradGuard no_grad;
  const bool was_training = model->is_training();
  model->eval();
  // The test split stays on the host; each chunk goes where the model is.
  const auto params = model->parameters();
  const c10::Device device = params.empty() ? c10::Device(c10::kCPU) : params.front().device();
  double loss_sum = 0;
  int64_t correct = 0;
  std::vector<at::Tensor> parts;
  for (int64_t i = 0; i < data.size(); i += chunk) {
    const int64_t end = std::min(i + chunk, data.size());
    const Batch batch = data.slice(i, end);
    const at::Tensor logits = model->forward(batch.inputs.to(device));
    const at::Tensor labels = batch.targets.to(device);
    loss_sum += at::cross_entropy_loss(logits, labels, {}, at::Reduction::Sum).item<double>();
    correct += logits.argmax(1).eq(labels).sum().item<int64_t>();
    if (probs) parts.push_back(at::softmax(logits, 1).cpu());
  }
  model->train(was_training);
  if (probs) *probs = at::cat(parts);
  return {double(correct) / double(data.size()), loss_sum / double(data.size())};
}

Evaluation evaluate_ensemble(const std::vector<at::Tensor>& member_probs, const at::Tensor& labels) {
  const at::Tensor mean = at::stack(member_probs).mean(0);
  const double accuracy = mean.argmax(1).eq(labels).to(at::kDouble).mean().item<double>();
  // Probabilities can underflow to zero; clamp before the log as torch's NLL of
  // an ensemble usually does.
  const double loss =
      at::nll_loss(mean.clamp_min(1e-12).log(), labels).item<double>();
  return {accuracy, loss};
}

}  // namespace cohort
