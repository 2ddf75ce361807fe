// ZeRO stage 3: parameters sharded between uses and gathered per unit of
// layers around its forward and its backward (PyTorch's FSDP with
// reshard_after_forward). A unit is gathered before its forward with the next
// one's gather started behind it, freed after; a hook on the unit's output
// gathers it again when backward reaches it (and starts the previous unit's),
// and the hooks on its parameters free it once all their gradients are in
// (after starting their reduction: sharded_data_parallel.cpp).
#include <ATen/core/grad_mode.h>
#include <fmt/format.h>
#include <torch/nn/modules/container/sequential.h>

#include "cohort/error.h"
#include "cohort/zero.h"
#include "parallel/zero/gathered_units.h"

namespace cohort {

void ShardedDataParallel::shard_parameters_by_layer() {
  auto model = std::dynamic_pointer_cast<torch::nn::SequentialImpl>(module_);
  if (!model)
    throw InputError(
        "ShardedDataParallel: stage 3 gathers parameters layer by layer and needs the model "
        "as a torch::nn::Sequential (wrap your layers in one), or use stage 1 or 2");
  // Each layer's trainable parameters, which must be the model's in its order.
  const auto layers = model->named_children();
  std::vector<std::vector<int64_t>> layer_numels;
  size_t next = 0;
  for (const auto& layer : layers) {
    layer_numels.emplace_back();
    for (const at::Tensor& p : layer.value()->parameters(/*recurse=*/true)) {
      if (!p.requires_grad()) continue;
      if (next >= parameters_.size() ||
          p.unsafeGetTensorImpl() != parameters_[next].unsafeGetTensorImpl())
        throw InputError(fmt::format(
            "ShardedDataParallel: layer '{}' shares a parameter with another layer; stage 3 "
            "needs each layer to own its parameters (use stage 1 or 2)",
            layer.key()));
      layer_numels.back().push_back(p.numel());
      ++next;
    }
  }
  if (next != parameters_.size())
    throw InputError(
        "ShardedDataParallel: stage 3 found trainable parameters outside the Sequential's "
        "layers; register them in a layer");
  plan_ = plan_layer_shards(layer_numels, comm_->size(), unit_cap_numel());
  for (size_t u = 0; u < plan_.units.size(); ++u) {
    flatten_unit(u);
    const FlatShardUnit& unit = plan_.units[u];
    auto sequential = std::make_shared<torch::nn::SequentialImpl>();
    for (size_t l = unit.first_layer; l < unit.end_layer; ++l)
      sequential->push_back(layers[l].key(), *(model->begin() + l));
    unit_layers_.push_back(sequential);
  }
  gathered_ = std::make_unique<zero::GatheredUnits>(flat_parameters_, chunks_, comm_);
}

at::Tensor ShardedDataParallel::forward(const at::Tensor& x) {
  auto model = std::dynamic_pointer_cast<torch::nn::SequentialImpl>(module_);
  if (!model)
    throw InputError(
        "ShardedDataParallel::forward runs a torch::nn::Sequential; call your module's own "
        "forward (stages 1 and 2)");
  if (!gathered_ || unit_layers_.empty()) return model->forward(x);
  const size_t units = unit_layers_.size();
  at::Tensor out = x;
  for (size_t u = 0; u < units; ++u) {
    gathered_->gather(u);
    if (u + 1 < units) gathered_->prefetch(u + 1);
    out = unit_layers_[u]->forward(out);
    const bool backward_follows = at::GradMode::is_enabled() && out.requires_grad();
    if (backward_follows) {
      gradients_awaited_[u] += static_cast<int64_t>(plan_.units[u].parameters.size());
      out.register_hook([this, u](const at::Tensor&) { before_unit_backward(u); });
    }
    // The last unit's backward comes next: it stays whole for it.
    if (!backward_follows || u + 1 < units) gathered_->release(u);
  }
  return out;
}

void ShardedDataParallel::before_unit_backward(size_t u) {
  gathered_->gather(u);
  if (u > 0) gathered_->prefetch(u - 1);
}

ShardedDataParallel::WholeParameters::WholeParameters(zero::GatheredUnits* units) : units_(units) {
  if (!units_) return;
  for (size_t u = 0; u < units_->size(); ++u) units_->prefetch(u);
  for (size_t u = 0; u < units_->size(); ++u) units_->gather(u);
}

ShardedDataParallel::WholeParameters::~WholeParameters() {
  if (units_) units_->release_all();
}

ShardedDataParallel::WholeParameters ShardedDataParallel::gather_whole() {
  return WholeParameters(gathered_.get());
}

int64_t ShardedDataParallel::gathered_bytes() const {
  return gathered_ ? gathered_->held_bytes() : 0;
}

int64_t ShardedDataParallel::peak_gathered_bytes() const {
  return gathered_ ? gathered_->peak_bytes() : 0;
}

}  // namespace cohort
