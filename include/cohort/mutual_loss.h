// Losses of cooperating networks that learn from each other's predictions.
//
// Deep mutual learning (Zhang, Xiang, Hospedales, Lu, CVPR 2018): K networks train
// together; network k minimises its cross-entropy plus the KL divergence from each
// peer's predicted distribution to its own. Codistillation (Anil, Pereyra, Passos,
// Ormandi, Dahl, Hinton, ICLR 2018) is the same loss where the peers' predictions
// come from stale copies of their weights (see stale_peers.h), so networks only
// exchange weights every few hundred steps instead of predictions every step.
#pragma once

#include <ATen/core/Tensor.h>

#include <vector>

#include "cohort/task.h"

namespace cohort {

struct MutualLossOptions {
  double alpha = 1.0;        // weight of the distillation term
  double temperature = 1.0;  // T: softens both distributions (Hinton et al. 2015); classification
  Task task = Task::Classification;
};

// The loss of one network and its two terms (for logging). All are scalars;
// `total` carries the gradient with respect to the network's logits.
struct MutualLoss {
  at::Tensor total;
  at::Tensor cross_entropy;  // the task's own loss, mean over the batch: CE(z, y) (MSE: regression)
  at::Tensor distillation;   // mean over peers of KL(p_peer^T || p^T), batchmean (MSE to the peer)
};

// loss = CE(z, y) + alpha * T^2 * (1/P) sum_p KL(softmax(z_p/T) || softmax(z/T)),
// the KL summed over classes and divided by the batch size. T^2 keeps the
// distillation gradient's scale independent of T (Hinton et al. 2015).
// Regression (options.task) distils towards the peers' predictions instead:
// loss = MSE(z, y) + alpha * (1/P) sum_p MSE(z, z_p), with `logits` and each peer
// B x T predictions and `targets` B x T; the temperature does not enter.
// `logits` is B x C, `targets` B (int64), each peer B x C. Peers are detached
// here: a network never pushes gradient into its teachers. With no peers the
// loss is plain cross-entropy. Shapes that disagree raise InputError.
MutualLoss mutual_loss(const at::Tensor& logits, const at::Tensor& targets,
                       const std::vector<at::Tensor>& peer_logits,
                       const MutualLossOptions& options = {});

// Mutual learning of K networks held in one process on one batch: element k is
// network k's loss with every other network as a (detached) peer. Summing the
// totals and calling backward() once gives each network exactly its own
// gradient, because the peers' logits enter each term as constants.
std::vector<MutualLoss> mutual_losses(const std::vector<at::Tensor>& all_logits,
                                      const at::Tensor& targets,
                                      const MutualLossOptions& options = {});

}  // namespace cohort
