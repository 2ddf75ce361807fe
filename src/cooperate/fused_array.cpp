// Building a fused array from K single models and splitting it back (see fused.h).
#include <torch/torch.h>

#include <string>

#include "cohort/error.h"
#include "cohort/fused.h"

namespace cohort {
namespace {

namespace nn = torch::nn;

std::string layer_name(const std::shared_ptr<nn::Module>& layer, size_t index) {
  return layer->name() + " (layer " + std::to_string(index) + ")";
}

// The K models' layer `index`, checked to be the same type with the same shapes.
template <typename Impl>
std::vector<Impl*> same_layer(const std::vector<nn::Sequential>& models, size_t index) {
  std::vector<Impl*> layers;
  for (size_t k = 0; k < models.size(); ++k) {
    auto* impl = models[k]->ptr(index)->as<Impl>();
    if (impl == nullptr)
      throw InputError("fused array: model " + std::to_string(k) + " differs from model 0 at " +
                       layer_name(models[0]->ptr(index), index) +
                       "; all copies must share one architecture");
    layers.push_back(impl);
  }
  return layers;
}

template <typename Impl, typename Get>
at::Tensor stacked(const std::vector<Impl*>& layers, Get get, size_t index) {
  std::vector<at::Tensor> values;
  for (Impl* layer : layers) values.push_back(get(*layer));
  for (const at::Tensor& v : values)
    if (!v.sizes().equals(values[0].sizes()))
      throw InputError("fused array: copies differ in parameter shapes at layer " +
                       std::to_string(index) + "; all copies must share one architecture");
  return torch::stack(values).detach();
}

void copy_into(at::Tensor& fused, const at::Tensor& stack) {
  torch::NoGradGuard no_grad;
  fused.copy_(stack);
}

}  // namespace

FusedArrayImpl::FusedArrayImpl(const std::vector<nn::Sequential>& models, int64_t sample_rank)
    : copies_(static_cast<int64_t>(models.size())), sample_rank_(sample_rank) {
  if (models.empty()) throw InputError("fused array: need at least one model");
  const size_t depth = models[0]->size();
  for (size_t k = 1; k < models.size(); ++k)
    if (models[k]->size() != depth)
      throw InputError("fused array: model " + std::to_string(k) + " has " +
                       std::to_string(models[k]->size()) + " layers, model 0 has " +
                       std::to_string(depth) + "; all copies must share one architecture");
  enum class Layout { Unknown, Image, Features } layout = Layout::Unknown;
  auto require = [&](Layout needed, size_t index) {
    if (layout == Layout::Unknown) {
      layout = needed;
      image_input_ = needed == Layout::Image;
    } else if (layout != needed) {
      throw InputError("fused array: " + layer_name(models[0]->ptr(index), index) +
                       (needed == Layout::Image ? " needs images but follows a flatten"
                                                : " needs features; add a Flatten before it"));
    }
  };
  flatten_first_ = false;
  image_input_ = false;
  for (size_t i = 0; i < depth; ++i) {
    const auto layer = models[0]->ptr(i);
    if (auto* linear = layer->as<nn::LinearImpl>()) {
      require(Layout::Features, i);
      auto layers = same_layer<nn::LinearImpl>(models, i);
      const auto& o = linear->options;
      FusedLinear fused(copies_, o.in_features(), o.out_features());
      if (!o.bias()) throw InputError("fused array: Linear without bias is not supported");
      copy_into(fused->weight, stacked(layers, [](auto& l) { return l.weight; }, i));
      copy_into(fused->bias, stacked(layers, [](auto& l) { return l.bias; }, i));
      layers_->push_back(fused);
    } else if (auto* conv = layer->as<nn::Conv2dImpl>()) {
      require(Layout::Image, i);
      auto layers = same_layer<nn::Conv2dImpl>(models, i);
      const auto& o = conv->options;
      if (o.groups() != 1 || !std::get_if<torch::ExpandingArray<2>>(&o.padding()) ||
          !std::get_if<torch::enumtype::kZeros>(&o.padding_mode()))
        throw InputError("fused array: " + layer_name(layer, i) +
                         " uses groups, string padding or non-zero padding mode; fused "
                         "arrays support plain zero-padded convolutions");
      FusedConv2d fused(copies_, nn::Conv2dOptions(o.in_channels(), o.out_channels(),
                                                   o.kernel_size())
                                     .stride(o.stride())
                                     .padding(o.padding())
                                     .dilation(o.dilation())
                                     .bias(o.bias()));
      copy_into(fused->weight, stacked(layers, [](auto& l) { return l.weight; }, i));
      if (o.bias()) copy_into(fused->bias, stacked(layers, [](auto& l) { return l.bias; }, i));
      layers_->push_back(fused);
    } else if (auto* flatten = layer->as<nn::FlattenImpl>()) {
      same_layer<nn::FlattenImpl>(models, i);
      if (flatten->options.start_dim() != 1 || flatten->options.end_dim() != -1)
        throw InputError("fused array: " + layer_name(layer, i) +
                         " must flatten dimensions 1..-1 (the default)");
      if (i == 0) flatten_first_ = true;
      require(Layout::Image, i);
      layout = Layout::Features;
      layers_->push_back(FusedFlatten(copies_));
    } else if (auto* pool = layer->as<nn::MaxPool2dImpl>()) {
      // Pooling is per channel: the single layer works unchanged on K*C channels.
      require(Layout::Image, i);
      layers_->push_back(nn::MaxPool2d(pool->options));
    } else if (auto* avg = layer->as<nn::AvgPool2dImpl>()) {
      require(Layout::Image, i);
      layers_->push_back(nn::AvgPool2d(avg->options));
    } else if (auto* relu = layer->as<nn::ReLUImpl>()) {
      layers_->push_back(nn::ReLU(relu->options));
    } else if (auto* dropout = layer->as<nn::DropoutImpl>()) {
      layers_->push_back(nn::Dropout(dropout->options));
    } else {
      throw InputError("fused array: " + layer_name(layer, i) +
                       " is not supported; fused arrays take Linear, Conv2d, Flatten, "
                       "MaxPool2d, AvgPool2d, ReLU and Dropout (the mlp and cnn models)");
    }
  }
  if (layout == Layout::Unknown)
    throw InputError("fused array: the model has no Linear or Conv2d layer to fuse");
  register_module("layers", layers_);
}

at::Tensor FusedArrayImpl::forward(const at::Tensor& input) {
  const int64_t single_rank = sample_rank_ > 0 ? sample_rank_ + 1 : image_input_ ? 4 : 2;
  const bool shared = input.dim() == single_rank;
  if (!shared && !(input.dim() == single_rank + 1 && input.size(0) == copies_))
    throw InputError("fused array: input must be one batch (" + std::to_string(single_rank) +
                     " dimensions) or one batch per copy (" + std::to_string(copies_) +
                     " x batch x ...)");
  const size_t per_copy_end = layers_run_per_copy(input.device().is_cpu());
  size_t next = flatten_first_ ? 1 : 0;
  // Flattened once: a shared batch is never copied K times.
  at::Tensor x = flatten_first_ ? input.flatten(shared ? 1 : 2) : input;
  if (next < per_copy_end) {
    x = forward_per_copy(x, shared, next, per_copy_end);
    next = per_copy_end;
  } else if (shared && is_weight_layer(next)) {
    x = first_layer_of_all_copies(x, next++);
  } else {
    x = fused_layout(x, shared);
  }
  for (auto layer = layers_->begin() + next; layer != layers_->end(); ++layer)
    x = layer->forward(x);
  return x;
}

bool FusedArrayImpl::is_weight_layer(size_t index) const {
  return index < layers_->size() &&
         (layers_->ptr(index)->as<FusedLinearImpl>() || layers_->ptr(index)->as<FusedConv2dImpl>());
}

// A batch every copy sees meets the first weight layer as one product with the K
// copies' weights side by side (K x out outputs, one GEMM or one convolution), not K
// small ones or a K-fold copy of the batch: the product BLAS runs fastest, and its
// weight gradient is one product too. The result is in the fused layout. (Where
// the CPU runs convolutions per copy, a first convolution for all copies measured
// slower, its K-fold activations out of the caches: forward_per_copy takes it.)
at::Tensor FusedArrayImpl::first_layer_of_all_copies(const at::Tensor& x, size_t index) const {
  if (auto* linear = layers_->ptr(index)->as<FusedLinearImpl>()) {
    const at::Tensor y = torch::linear(x, linear->weight.flatten(0, 1), linear->bias.flatten());
    return y.view({x.size(0), copies_, linear->out_features}).transpose(0, 1);
  }
  auto* conv = layers_->ptr(index)->as<FusedConv2dImpl>();
  const auto padding = std::get<torch::ExpandingArray<2>>(conv->single.padding());
  return torch::conv2d(x, conv->weight.flatten(0, 1),
                       conv->bias.defined() ? conv->bias.flatten() : at::Tensor(),
                       *conv->single.stride(), *padding, *conv->single.dilation());
}

// The input (flattened already if the model starts with a flatten) in the fused
// layout: images B x (K*C) x H x W, features K x B x F.
at::Tensor FusedArrayImpl::fused_layout(const at::Tensor& x, bool shared) const {
  if (image_input_ && !flatten_first_)
    return shared ? x.repeat({1, copies_, 1, 1})
                  : x.transpose(0, 1).reshape({x.size(1), -1, x.size(3), x.size(4)});
  return shared ? x.unsqueeze(0).expand({copies_, -1, -1}) : x;
}

// kPerCopy: every layer. kAuto on the CPU: the convolutional part, up to and
// including the flatten, where grouped convolutions lose to K plain ones; the linear
// part stays one batched product per layer, which measured as fast as K plain ones
// or faster (docs/benchmarks/fused.md). kBatched, or kAuto on a GPU: none.
size_t FusedArrayImpl::layers_run_per_copy(bool on_cpu) const {
  if (kernels_ == FusedKernels::kPerCopy) return layers_->size();
  if (kernels_ == FusedKernels::kBatched || !on_cpu || !image_input_ || flatten_first_) return 0;
  for (size_t i = 0; i < layers_->size(); ++i)
    if (layers_->ptr(i)->as<FusedFlattenImpl>()) return i + 1;
  return layers_->size();
}

// Layers [begin, end) run copy by copy, as plain ops on each copy's own activations
// (the single model's layout) with its slice of every stacked parameter; their
// outputs are stacked into the features layout for the rest. `x` is the shared
// batch or one batch per copy (K x ...). Parameters are split with unbind, whose backward stacks
// the K gradients once (K selects would each add a K-sized zero-filled gradient).
at::Tensor FusedArrayImpl::forward_per_copy(const at::Tensor& x, bool shared, size_t begin,
                                            size_t end) {
  // Indexed from `begin`: layer i's copies are at [i - begin].
  std::vector<std::vector<at::Tensor>> weights(end - begin), biases(end - begin);
  for (size_t i = begin; i < end; ++i) {
    if (auto* linear = layers_->ptr(i)->as<FusedLinearImpl>()) {
      weights[i - begin] = linear->weight.unbind(0);
      biases[i - begin] = linear->bias.unbind(0);
    } else if (auto* conv = layers_->ptr(i)->as<FusedConv2dImpl>()) {
      weights[i - begin] = conv->weight.unbind(0);
      if (conv->bias.defined()) biases[i - begin] = conv->bias.unbind(0);
    }
  }
  std::vector<at::Tensor> outputs;
  outputs.reserve(copies_);
  for (int64_t k = 0; k < copies_; ++k) {
    at::Tensor y = shared ? x : x[k];
    for (size_t i = begin; i < end; ++i) {
      const auto layer = layers_->ptr(i);
      const size_t at = i - begin;
      if (layer->as<FusedLinearImpl>()) {
        y = torch::linear(y, weights[at][k], biases[at][k]);
      } else if (auto* conv = layer->as<FusedConv2dImpl>()) {
        const auto padding = std::get<torch::ExpandingArray<2>>(conv->single.padding());
        y = torch::conv2d(y, weights[at][k], biases[at].empty() ? at::Tensor() : biases[at][k],
                          *conv->single.stride(), *padding, *conv->single.dilation());
      } else if (layer->as<FusedFlattenImpl>()) {
        y = y.flatten(1);
      } else {
        // Pooling, activations, dropout: as in one copy.
        y = layers_->begin()[i].forward<at::Tensor>(y);
      }
    }
    outputs.push_back(y);
  }
  return torch::stack(outputs);
}

void FusedArrayImpl::split_into(std::vector<nn::Sequential>& models) const {
  if (static_cast<int64_t>(models.size()) != copies_ ||
      models.front()->size() != layers_->size())
    throw InputError("fused array: split_into needs " + std::to_string(copies_) +
                     " models of the fused architecture");
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < layers_->size(); ++i) {
    if (auto* fused = layers_->ptr(i)->as<FusedLinearImpl>()) {
      auto layers = same_layer<nn::LinearImpl>(models, i);
      for (int64_t k = 0; k < copies_; ++k) {
        layers[k]->weight.copy_(fused->weight[k]);
        layers[k]->bias.copy_(fused->bias[k]);
      }
    } else if (auto* fused = layers_->ptr(i)->as<FusedConv2dImpl>()) {
      auto layers = same_layer<nn::Conv2dImpl>(models, i);
      for (int64_t k = 0; k < copies_; ++k) {
        layers[k]->weight.copy_(fused->weight[k]);
        if (fused->bias.defined()) layers[k]->bias.copy_(fused->bias[k]);
      }
    }
  }
}

}  // namespace cohort
