#include "train/engines/tensor_network.h"

#include "cohort/optim.h"
#include "cohort/tensor_parallel.h"

namespace cohort {

TensorNetwork::TensorNetwork(Network& net, CommunicatorPtr group)
    : net_(net),
      group_(std::move(group)),
      form_(tp::parallel_form(net.model, group_)),
      optimizer_(make_optimizer(net.config, form_->parameters())) {
  tp::load_optimizer_state(net_.model, *net_.optimizer, form_, *optimizer_, *group_);
  net_.optimizer->state().clear();
}

void TensorNetwork::clip(double max_norm) {
  if (max_norm > 0) tp::clip_grad_norm(form_, max_norm, *group_);
}

void TensorNetwork::gather_into_whole(bool with_state) {
  tp::gather_into(form_, net_.model);
  if (with_state) tp::gather_optimizer_state(form_, *optimizer_, net_.model, *net_.optimizer, *group_);
}

ShardMemory TensorNetwork::memory() const {
  return whole_model_memory(form_->parameters(), *optimizer_);
}

}  // namespace cohort
