#include "train/engines/tensor_network.h"

#include <ATen/ATen.h>

#include "cohort/optim.h"
#include "cohort/tensor_parallel.h"

namespace cohort {

TensorNetwork::TensorNetwork(Network& net, CommunicatorPtr group)
    : net_(net),
      group_(std::move(group)),
      form_(tp::parallel_form(net.model, group_)),
      optimizer_(make_optimizer(net.config, form_->parameters())) {
  tp::load_optimizer_state(net_.model, *net_.optimizer, form_, *optimizer_, *group_);
  for (const at::Tensor& p : net_.model->parameters()) whole_shapes_.push_back(p.sizes().vec());
  release_whole();
}

void TensorNetwork::release_whole() {
  net_.optimizer->state().clear();
  if (whole_released_) return;
  at::NoGradGuard no_grad;
  for (at::Tensor p : net_.model->parameters()) p.set_data(at::empty({0}, p.options()));
  whole_released_ = true;
}

void TensorNetwork::clip(double max_norm) {
  if (max_norm > 0) tp::clip_grad_norm(form_, max_norm, *group_);
}

void TensorNetwork::gather_into_whole(bool with_state) {
  if (whole_released_) {
    at::NoGradGuard no_grad;
    auto params = net_.model->parameters();
    for (size_t i = 0; i < params.size(); ++i)
      params[i].set_data(at::empty(whole_shapes_[i], params[i].options()));
    whole_released_ = false;
  }
  tp::gather_into(form_, net_.model);
  if (with_state)
    tp::gather_optimizer_state(form_, *optimizer_, net_.model, *net_.optimizer, *group_);
}

ShardMemory TensorNetwork::memory() const {
  return whole_model_memory(form_->parameters(), *optimizer_);
}

}  // namespace cohort
