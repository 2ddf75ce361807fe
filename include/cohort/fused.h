// Fused arrays: K copies of one architecture trained in one process as one batched
// model (the "vectorised ensembles" of hyperparameter sweeps and population
// training). Small networks leave most of a core idle per step; batching the K
// copies turns K small matrix products into one batched product (baddbmm) and K
// small convolutions into one grouped convolution, so per-op overhead is paid once.
//
// Layouts. Every parameter has the copy index as its first dimension (K x ...), so
// an optimizer can scale each copy by its own learning rate. Activations are
//   image:    B x (K*C) x H x W   copy k owns channels [k*C, (k+1)*C)
//   features: K x B x F           copy k owns row block k
// Convolutions use groups = K on the image layout; pooling and activations act
// per channel or per element and need no change; flatten moves image -> features.
//
// Kernels. On a GPU one batched product or grouped convolution replaces K launches.
// On the CPU a grouped convolution, with the copies and strided slices of the shared
// layout around it, is slower than K plain ones (docs/benchmarks/fused.md), so there
// the array runs each copy's convolutional layers on its own contiguous activations,
// on views of the stacked parameters, and batches the linear layers after them; the
// copies share the loss and the optimiser step (in place, all K copies at once). A batch
// every copy sees meets a first Linear layer as one GEMM with the K weight matrices side by side,
// the shape BLAS runs fastest.
#pragma once

#include <ATen/core/Tensor.h>
#include <torch/nn/cloneable.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/options/conv.h>
#include <torch/nn/pimpl.h>

#include <cstdint>
#include <vector>

namespace cohort {

// How a fused array computes its K copies: kAuto runs the convolutional layers per
// copy on the CPU (FusedArrayImpl::layers_run_per_copy) and everything batched
// elsewhere. All agree to rounding (the same products, summed in another order).
enum class FusedKernels { kAuto, kBatched, kPerCopy };

// K independent Linear layers: y_k = x_k W_k^T + b_k for x of shape K x B x in.
class FusedLinearImpl : public torch::nn::Cloneable<FusedLinearImpl> {
 public:
  FusedLinearImpl(int64_t copies, int64_t in_features, int64_t out_features);
  void reset() override;
  at::Tensor forward(const at::Tensor& input);

  int64_t copies, in_features, out_features;
  at::Tensor weight;  // K x out x in  (copy k is nn::Linear's weight)
  at::Tensor bias;    // K x out
};
TORCH_MODULE(FusedLinear);

// K independent Conv2d layers as one grouped convolution on the image layout.
class FusedConv2dImpl : public torch::nn::Cloneable<FusedConv2dImpl> {
 public:
  FusedConv2dImpl(int64_t copies, torch::nn::Conv2dOptions single);
  void reset() override;
  at::Tensor forward(const at::Tensor& input);

  int64_t copies;
  torch::nn::Conv2dOptions single;  // the options of one copy (groups = 1)
  at::Tensor weight;                // K x out x in x kh x kw
  at::Tensor bias;                  // K x out
};
TORCH_MODULE(FusedConv2d);

// Image layout B x (K*C) x H x W -> features K x B x (C*H*W), each copy flattened
// in nn::Flatten's (C, H, W) order.
class FusedFlattenImpl : public torch::nn::Cloneable<FusedFlattenImpl> {
 public:
  explicit FusedFlattenImpl(int64_t copies) : copies(copies) {}
  void reset() override {}
  at::Tensor forward(const at::Tensor& input);

  int64_t copies;
};
TORCH_MODULE(FusedFlatten);

// K models of one architecture fused into one. Supported layers: Linear, Conv2d
// (groups 1, zero padding), Flatten (default dims), MaxPool2d, AvgPool2d, ReLU,
// Dropout: enough for the zoo's mlp and cnn. Anything else (batch norm, residual
// blocks) raises InputError naming the layer.
class FusedArrayImpl : public torch::nn::Module {
 public:
  // Copies the K models' weights in; the models are left untouched.
  // `sample_rank`: the rank of one sample (3 for C x H x W images, 1 for feature
  // vectors); 0 takes it from the first layer (images for conv, pool and
  // flatten), which is wrong only for an mlp's flatten on feature vectors.
  explicit FusedArrayImpl(const std::vector<torch::nn::Sequential>& models,
                          int64_t sample_rank = 0);

  // `input` is either one batch every copy sees (the single model's input shape,
  // e.g. B x C x H x W) or one batch per copy (K x B x ...). Returns K x B x classes.
  at::Tensor forward(const at::Tensor& input);

  // Writes copy k's weights into models[k] (K models of the same architecture).
  void split_into(std::vector<torch::nn::Sequential>& models) const;

  int64_t copies() const { return copies_; }

  // bench/fused_arrays measures the choice with it.
  void use_kernels(FusedKernels kernels) { kernels_ = kernels; }

 private:
  size_t layers_run_per_copy(bool on_cpu) const;
  bool is_weight_layer(size_t index) const;
  at::Tensor first_layer_of_all_copies(const at::Tensor& x, size_t index) const;
  at::Tensor fused_layout(const at::Tensor& x, bool shared) const;
  at::Tensor forward_per_copy(const at::Tensor& x, bool shared, size_t begin, size_t end);

  int64_t copies_;
  bool image_input_;    // first layer takes images (conv, pool, flatten) or features
  bool flatten_first_;  // mlp: flatten the shared batch once, then broadcast
  int64_t sample_rank_;
  FusedKernels kernels_ = FusedKernels::kAuto;
  torch::nn::Sequential layers_;
};
TORCH_MODULE(FusedArray);

// Per-copy mean cross-entropy of K x B x C logits against targets of shape B
// (shared batch) or K x B: a K-vector. Its sum is the fused loss: copy k's
// gradient is exactly that of its own mean loss, as if trained alone.
at::Tensor fused_cross_entropy(const at::Tensor& logits, const at::Tensor& targets);

// SGD with momentum, dampening, weight decay and Nesterov, computed as
// torch::optim::SGD but with one learning rate per copy. (Views of one tensor
// cannot be separate libtorch param groups, so the copy dimension carries the lr:
// a K-vector broadcast over each parameter's trailing dimensions.)
struct FusedSGDOptions {
  double momentum = 0;
  double dampening = 0;
  double weight_decay = 0;
  bool nesterov = false;
};

class FusedSGD {
 public:
  // Every parameter's first dimension is the copy index: lrs.size() copies.
  FusedSGD(std::vector<at::Tensor> parameters, std::vector<double> lrs,
           FusedSGDOptions options = {});
  void zero_grad();
  void step();

  void set_lr(int64_t copy, double lr);
  double lr(int64_t copy) const;
  int64_t copies() const { return static_cast<int64_t>(lrs_.size()); }
  // Momentum buffers in parameter order (undefined before the first step).
  const std::vector<at::Tensor>& momentum_buffers() const { return momentum_; }
  // Resuming: the buffers in parameter order, each of its parameter's shape (an
  // undefined tensor leaves that parameter without momentum, as before a first step).
  void set_momentum_buffers(std::vector<at::Tensor> buffers);

 private:
  std::vector<at::Tensor> parameters_;
  std::vector<double> lrs_;
  std::vector<at::Tensor> lr_views_;  // per parameter: K x 1 x ... x 1, its dtype
  std::vector<at::Tensor> momentum_;
  FusedSGDOptions options_;
};

}  // namespace cohort
