#include "cohort/evaluate.h"

#include <ATen/ATen.h>

namespace cohort {

Evaluation evaluate(torch::nn::Sequential& model, const Dataset& data, at::Tensor* probs,
                    int64_t chunk) {
  at::NoGradGuard no_grad;
  const Task task = data.spec().task;
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
    const at::Tensor outputs = model->forward(batch.inputs.to(device));
    const at::Tensor targets = batch.targets.to(device);
    loss_sum += task_loss(task, outputs, targets).item<double>() * double(end - i);
    correct += correct_predictions(task, outputs, targets);
    if (probs)
      parts.push_back(task == Task::Regression ? outputs.cpu() : at::softmax(outputs, 1).cpu());
  }
  model->train(was_training);
  if (probs) *probs = at::cat(parts);
  return {double(correct) / double(data.size()), loss_sum / double(data.size())};
}

Evaluation evaluate_ensemble(const std::vector<at::Tensor>& member_probs, const at::Tensor& targets,
                             Task task) {
  const at::Tensor mean = at::stack(member_probs).mean(0);
  if (task == Task::Regression) return {0.0, task_loss(task, mean, targets).item<double>()};
  const double accuracy = mean.argmax(1).eq(targets).to(at::kDouble).mean().item<double>();
  // Probabilities can underflow to zero; clamp before the log as torch's NLL of
  // an ensemble usually does.
  const double loss = at::nll_loss(mean.clamp_min(1e-12).log(), targets).item<double>();
  return {accuracy, loss};
}

CohortEvaluation evaluate_cohort(std::vector<torch::nn::Sequential>& models,
                                 const std::vector<bool>& cooperates, const Dataset& data) {
  CohortEvaluation out;
  std::vector<at::Tensor> probs;
  for (size_t k = 0; k < models.size(); ++k) {
    const bool member = k >= cooperates.size() || cooperates[k];
    at::Tensor p;
    out.networks.push_back(evaluate(models[k], data, member && models.size() > 1 ? &p : nullptr));
    if (p.defined()) probs.push_back(p);
  }
  if (probs.size() > 1)
    out.ensemble = evaluate_ensemble(probs, data.slice(0, data.size()).targets, data.spec().task);
  return out;
}

}  // namespace cohort
