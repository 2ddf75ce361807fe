#include "models/residual_block.h"

#include <torch/nn/functional/activation.h>

namespace cohort {

namespace nn = torch::nn;

ResidualBlockImpl::ResidualBlockImpl(int64_t in_channels, int64_t out_channels, int64_t stride)
    : in_(in_channels), out_(out_channels), stride_(stride) {
  conv1_ = register_module("conv1", nn::Conv2d(nn::Conv2dOptions(in_channels, out_channels, 3)
                                                   .stride(stride).padding(1).bias(false)));
  bn1_ = register_module("bn1", nn::BatchNorm2d(out_channels));
  conv2_ = register_module("conv2", nn::Conv2d(nn::Conv2dOptions(out_channels, out_channels, 3)
                                                   .padding(1).bias(false)));
  bn2_ = register_module("bn2", nn::BatchNorm2d(out_channels));
  shortcut_ = nn::Sequential();
  if (stride != 1 || in_channels != out_channels) {
    shortcut_->push_back(nn::Conv2d(
        nn::Conv2dOptions(in_channels, out_channels, 1).stride(stride).bias(false)));
    shortcut_->push_back(nn::BatchNorm2d(out_channels));
  }
  register_module("shortcut", shortcut_);
}

at::Tensor ResidualBlockImpl::forward(const at::Tensor& x) {
  auto out = torch::relu(bn1_->forward(conv1_->forward(x)));
  out = bn2_->forward(conv2_->forward(out));
  auto skip = shortcut_->is_empty() ? x : shortcut_->forward(x);
  return torch::relu(out + skip);
}

}  // namespace cohort
