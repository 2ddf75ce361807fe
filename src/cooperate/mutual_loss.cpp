#include "cohort/mutual_loss.h"

#include <torch/torch.h>

#include <string>

#include "cohort/error.h"

namespace cohort {
namespace {

std::string shape_of(const at::Tensor& t) {
  std::string s = "[";
  for (int64_t d = 0; d < t.dim(); ++d) s += (d ? ", " : "") + std::to_string(t.size(d));
  return s + "]";
}

void check_inputs(const at::Tensor& logits, const at::Tensor& targets,
                  const std::vector<at::Tensor>& peers, const MutualLossOptions& options) {
  if (logits.dim() != 2)
    throw InputError("mutual_loss: logits must be batch x classes, got " + shape_of(logits));
  if (options.task == Task::Regression && !targets.sizes().equals(logits.sizes()))
    throw InputError("mutual_loss: regression targets must have the predictions' shape " +
                     shape_of(logits) + ", got " + shape_of(targets));
  if (options.task == Task::Classification &&
      (targets.dim() != 1 || targets.size(0) != logits.size(0)))
    throw InputError("mutual_loss: targets must have one label per row of logits " +
                     shape_of(logits) + ", got " + shape_of(targets));
  for (size_t p = 0; p < peers.size(); ++p)
    if (!peers[p].sizes().equals(logits.sizes()))
      throw InputError("mutual_loss: peer " + std::to_string(p) + " logits " +
                       shape_of(peers[p]) + " differ from the network's " + shape_of(logits) +
                       "; peers must see the same batch and predict the same classes");
  if (!(options.temperature > 0))
    throw InputError("mutual_loss: temperature must be > 0, got " +
                     std::to_string(options.temperature));
  if (options.alpha < 0)
    throw InputError("mutual_loss: alpha must be >= 0, got " + std::to_string(options.alpha));
}

}  // namespace

MutualLoss mutual_loss(const at::Tensor& logits, const at::Tensor& targets,
                       const std::vector<at::Tensor>& peer_logits,
                       const MutualLossOptions& options) {
  check_inputs(logits, targets, peer_logits, options);
  namespace F = torch::nn::functional;
  MutualLoss loss;
  loss.cross_entropy = task_loss(options.task, logits, targets);
  if (peer_logits.empty()) {
    loss.distillation = torch::zeros({}, logits.options());
    loss.total = loss.cross_entropy;
    return loss;
  }
  if (options.task == Task::Regression) {
    at::Tensor sum = torch::zeros({}, logits.options());
    for (const at::Tensor& peer : peer_logits) sum = sum + F::mse_loss(logits, peer.detach());
    loss.distillation = sum / static_cast<double>(peer_logits.size());
    loss.total = loss.cross_entropy + options.alpha * loss.distillation;
    return loss;
  }
  const double t = options.temperature;
  const at::Tensor log_q = torch::log_softmax(logits / t, 1);
  at::Tensor kl_sum = torch::zeros({}, logits.options());
  for (const at::Tensor& peer : peer_logits) {
    // kl_div(input = log q, target = log p, log_target) = sum p (log p - log q);
    // log-space targets avoid 0 * log 0 when a peer is very confident.
    const at::Tensor log_p = torch::log_softmax(peer.detach() / t, 1);
    kl_sum = kl_sum + F::kl_div(log_q, log_p,
                                F::KLDivFuncOptions().reduction(torch::kBatchMean).log_target(true));
  }
  loss.distillation = kl_sum / static_cast<double>(peer_logits.size());
  loss.total = loss.cross_entropy + options.alpha * t * t * loss.distillation;
  return loss;
}

std::vector<MutualLoss> mutual_losses(const std::vector<at::Tensor>& all_logits,
                                      const at::Tensor& targets,
                                      const MutualLossOptions& options) {
  std::vector<MutualLoss> losses;
  losses.reserve(all_logits.size());
  for (size_t k = 0; k < all_logits.size(); ++k) {
    std::vector<at::Tensor> peers;
    for (size_t p = 0; p < all_logits.size(); ++p)
      if (p != k) peers.push_back(all_logits[p]);
    losses.push_back(mutual_loss(all_logits[k], targets, peers, options));
  }
  return losses;
}

}  // namespace cohort
