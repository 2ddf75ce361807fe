#include "train/cohort/objective.h"

#include <ATen/ATen.h>

#include <utility>

#include "cohort/mutual_loss.h"

namespace cohort {
namespace {

// A copy refreshes every exchange_every steps (once), and on the first step
// of a run resumed between two exchanges: the checkpoint holds the networks,
// not the copies, so those start from the weights at the resume step
// (docs/cooperate.md).
bool due(const StalePeerCache& copy, int64_t step) {
  return (copy.refresh_due(step) && copy.refreshed_at(0) != step) || copy.refreshed_at(0) < 0;
}

}  // namespace

Objective::Objective(const CooperateConfig& cooperate, Task task,
                     const std::vector<torch::nn::Sequential>& models, std::vector<bool> cooperates,
                     const std::vector<ModelSpec>& specs)
    : cooperate_(cooperate), task_(task), models_(models), cooperates_(std::move(cooperates)) {
  if (cooperates_.empty()) cooperates_.assign(models_.size(), true);
  if (cooperate_.method == "codistill") {
    for (size_t k = 0; k < models_.size(); ++k) {
      std::function<torch::nn::Sequential()> build;
      if (k < specs.size()) build = [spec = specs[k]] { return build_model(spec); };
      stale_.emplace_back(models_[k], 1, cooperate_.exchange_every, build);
    }
  }
}

bool Objective::refreshes_at(int64_t step) const {
  for (size_t j = 0; j < stale_.size(); ++j)
    if (cooperates_[j] && due(stale_[j], step)) return true;
  return false;
}

void Objective::refresh_copies(int64_t step) {
  for (size_t j = 0; j < stale_.size(); ++j)
    if (cooperates_[j] && due(stale_[j], step)) stale_[j].refresh(0, pack_state(*models_[j]), step);
}

std::vector<at::Tensor> Objective::losses(int64_t step, const at::Tensor& inputs,
                                          const std::vector<at::Tensor>& logits,
                                          const at::Tensor& targets,
                                          const std::vector<size_t>* only) {
  std::vector<size_t> all;
  if (!only) {
    for (size_t k = 0; k < logits.size(); ++k) all.push_back(k);
    only = &all;
  }
  std::vector<at::Tensor> out(logits.size());
  const MutualLossOptions options{cooperate_.alpha, cooperate_.temperature, task_};
  // Every network's peers: the others' logits (mutual learning) or their stale
  // copies' (codistillation).
  std::vector<at::Tensor> peer_logits;
  if (cooperate_.method == "mutual" && logits.size() > 1) {
    peer_logits = logits;
  } else if (cooperate_.method == "codistill" && logits.size() > 1) {
    for (size_t j = 0; j < models_.size(); ++j) {
      if (!cooperates_[j]) {  // no one's peer
        peer_logits.emplace_back();
        continue;
      }
      if (due(stale_[j], step)) stale_[j].refresh(0, pack_state(*models_[j]), step);
      peer_logits.push_back(stale_[j].logits(inputs)[0]);
    }
  }
  for (size_t k : *only) {
    std::vector<at::Tensor> peers;
    for (size_t j = 0; j < peer_logits.size() && cooperates_[k]; ++j)
      if (j != k && cooperates_[j]) peers.push_back(peer_logits[j]);
    out[k] = peers.empty() ? task_loss(task_, logits[k], targets)
                           : mutual_loss(logits[k], targets, peers, options).total;
  }
  return out;
}

}  // namespace cohort
