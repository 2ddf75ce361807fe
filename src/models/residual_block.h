// A basic residual block (He et al. 2016): two 3x3 convolutions with batch norm,
// plus a 1x1 projection on the skip path when the shape changes. One block is one
// layer of the model's sequence, so pipeline cuts never split a skip connection.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>

namespace cohort {

class ResidualBlockImpl : public torch::nn::Module {
 public:
  ResidualBlockImpl(int64_t in_channels, int64_t out_channels, int64_t stride);
  at::Tensor forward(const at::Tensor& x);
  int64_t in_channels() const { return in_; }
  int64_t out_channels() const { return out_; }
  int64_t stride() const { return stride_; }

 private:
  int64_t in_, out_, stride_;
  torch::nn::Conv2d conv1_{nullptr}, conv2_{nullptr};
  torch::nn::BatchNorm2d bn1_{nullptr}, bn2_{nullptr};
  torch::nn::Sequential shortcut_{nullptr};
};
TORCH_MODULE(ResidualBlock);

}  // namespace cohort
