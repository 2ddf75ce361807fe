// Tensor parallelism (Megatron-LM's layers): one layer's weight split among the
// T ranks of a group, each rank computing its share of the layer's output.
//   ColumnParallelLinear  W split by output rows: y_i = x W_i^T + b_i. Its
//                         input's gradient is summed over the group (f).
//   RowParallelLinear     W split by input columns, the input already split
//                         (or split here): y = sum_i x_i W_i^T + b, the sum an
//                         allreduce (g).
//   SplitOutputConv2d     a convolution split by output channel, the channels
//                         all-gathered after it, or left split for:
//   RowParallelConv2d     a convolution split by input channel, its partial
//                         outputs summed (the convolutions' column-row pair).
//   ParallelResidualBlock a residual block's two convolutions as that pair.
//   vocab_parallel_cross_entropy  the cross-entropy of logits split by class
//                         among the ranks, never gathered whole: three
//                         allreduces of one number per sample.
// A column-parallel layer followed by a row-parallel one needs no collective
// between them (the element-wise activation applies to each rank's slice);
// the pair costs one allreduce forward and one backward. Every rank of the group
// sees the same batch; layers outside these are replicated. The group must
// outlive the modules and the autograd graphs they build.
#pragma once

#include <ATen/core/Tensor.h>
#include <torch/nn/cloneable.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/pimpl.h>
#include <torch/optim/optimizer.h>

#include <cstdint>
#include <vector>

#include "cohort/comm.h"

namespace cohort::tp {

// Which part of `total` the rank `index` of `parts` holds: [begin, begin + size).
// InputError unless `parts` divides `total` (every rank the same share).
struct Share {
  int64_t begin = 0;
  int64_t size = 0;
};
Share share_of(int64_t total, int parts, int index, const char* what);

// Megatron's conjugate operators, differentiable:
// identity forward, the gradient summed over the group backward (f) ...
at::Tensor copy_to_group(const at::Tensor& x, Communicator& group);
// ... and the sum over the group forward, identity backward (g).
at::Tensor reduce_from_group(const at::Tensor& x, Communicator& group);
// The ranks' slices concatenated along `dim` forward, this rank's slice of the
// gradient backward; and the converse.
at::Tensor gather_from_group(const at::Tensor& x, Communicator& group, int64_t dim);
at::Tensor split_to_group(const at::Tensor& x, Communicator& group, int64_t dim);

class ColumnParallelLinearImpl : public torch::nn::Cloneable<ColumnParallelLinearImpl> {
 public:
  // `gather_output`: all-gather the output slices (for a replicated layer next);
  // otherwise each rank keeps its out/T features.
  ColumnParallelLinearImpl(int64_t in, int64_t out, CommunicatorPtr group, bool bias = true,
                           bool gather_output = false);
  void reset() override;
  at::Tensor forward(const at::Tensor& x);
  // This rank's rows of a whole layer's weight [out, in] and bias [out].
  void load_whole(const at::Tensor& weight, const at::Tensor& bias);
  // The whole weight and bias, gathered (collective).
  std::pair<at::Tensor, at::Tensor> gather_whole() const;

  at::Tensor weight, bias;  // [out/T, in], [out/T] (undefined without bias)

 private:
  int64_t in_, out_;
  CommunicatorPtr group_;
  bool has_bias_, gather_output_;
};
TORCH_MODULE(ColumnParallelLinear);

class RowParallelLinearImpl : public torch::nn::Cloneable<RowParallelLinearImpl> {
 public:
  // `input_is_parallel`: the input is already this rank's in/T features (a
  // column-parallel layer's output); otherwise it is split here.
  RowParallelLinearImpl(int64_t in, int64_t out, CommunicatorPtr group, bool bias = true,
                        bool input_is_parallel = true);
  void reset() override;
  at::Tensor forward(const at::Tensor& x);
  // This rank's columns of a whole layer's weight [out, in]; the bias [out] whole.
  void load_whole(const at::Tensor& weight, const at::Tensor& bias);
  std::pair<at::Tensor, at::Tensor> gather_whole() const;

  at::Tensor weight, bias;  // [out, in/T], [out] (the same on every rank)

 private:
  int64_t in_, out_;
  CommunicatorPtr group_;
  bool has_bias_, input_is_parallel_;
};
TORCH_MODULE(RowParallelLinear);

class SplitOutputConv2dImpl : public torch::nn::Cloneable<SplitOutputConv2dImpl> {
 public:
  // `gather_output`: all-gather the channels (for a replicated layer next);
  // otherwise each rank keeps its out/T channels (for a RowParallelConv2d).
  SplitOutputConv2dImpl(int64_t in_channels, int64_t out_channels, int64_t kernel, int64_t padding,
                        CommunicatorPtr group, bool gather_output = true, bool bias = true,
                        int64_t stride = 1);
  void reset() override;
  at::Tensor forward(const at::Tensor& x);
  void load_whole(const at::Tensor& weight, const at::Tensor& bias);
  std::pair<at::Tensor, at::Tensor> gather_whole() const;

  at::Tensor weight, bias;  // [out/T, in, k, k], [out/T] (undefined without bias)

 private:
  int64_t in_, out_, kernel_, padding_, stride_;
  CommunicatorPtr group_;
  bool gather_output_, has_bias_;
};
TORCH_MODULE(SplitOutputConv2d);

// A convolution split by input channel, its input already split (a
// SplitOutputConv2d's channels left on their ranks): each rank convolves its
// in/T channels, the partial outputs summed over the group (g), the bias whole.
class RowParallelConv2dImpl : public torch::nn::Cloneable<RowParallelConv2dImpl> {
 public:
  RowParallelConv2dImpl(int64_t in_channels, int64_t out_channels, int64_t kernel, int64_t padding,
                        CommunicatorPtr group, bool bias = true, int64_t stride = 1);
  void reset() override;
  at::Tensor forward(const at::Tensor& x);
  void load_whole(const at::Tensor& weight, const at::Tensor& bias);
  std::pair<at::Tensor, at::Tensor> gather_whole() const;

  at::Tensor weight, bias;  // [out, in/T, k, k], [out] (the same on every rank)

 private:
  int64_t in_, out_, kernel_, padding_, stride_;
  CommunicatorPtr group_;
  bool has_bias_;
};
TORCH_MODULE(RowParallelConv2d);

// A basic residual block (two 3x3 convolutions with batch norm, a 1x1
// projection with batch norm on the skip path when the shape changes; the
// zoo's resnet's) split Megatron's way: the first convolution by output
// channel and its batch norm over this rank's channels (batch norm is per
// channel: exact), the second by input channel, its partial outputs summed;
// the second batch norm and the skip path replicated. One allreduce forward
// (after the second convolution) and one backward (the input's gradient).
class ParallelResidualBlockImpl : public torch::nn::Cloneable<ParallelResidualBlockImpl> {
 public:
  ParallelResidualBlockImpl(int64_t in_channels, int64_t out_channels, int64_t stride,
                            CommunicatorPtr group);
  void reset() override;
  at::Tensor forward(const at::Tensor& x);
  // This rank's share of a whole block's parameters and buffers, by their
  // names (conv1, bn1, conv2, bn2, shortcut.0, shortcut.1).
  void load_whole(const torch::nn::Module& block);
  // The whole block's parameters and buffers take the gathered ones (collective).
  void gather_into(torch::nn::Module& block) const;
  // Each parameter's split dimension (parameters() order), -1 for whole ones.
  std::vector<int64_t> split_dims() const;

 private:
  int64_t in_, out_, stride_;
  CommunicatorPtr group_;
  SplitOutputConv2d conv1_{nullptr};
  torch::nn::BatchNorm2d bn1_{nullptr};  // out/T channels
  RowParallelConv2d conv2_{nullptr};
  torch::nn::BatchNorm2d bn2_{nullptr};
  torch::nn::Sequential shortcut_{nullptr};
};
TORCH_MODULE(ParallelResidualBlock);

// Mean cross-entropy over the batch of logits [N, C/T] that hold this rank's
// classes (share_of(C, T, rank)), `targets` [N] the whole classes; equal to
// cross_entropy on the gathered logits, gradient included.
at::Tensor vocab_parallel_cross_entropy(const at::Tensor& local_logits, const at::Tensor& targets,
                                        Communicator& group);

// A Sequential's tensor-parallel form, planned without processes: what each
// layer becomes. Each Linear followed (through element-wise layers only: ReLU,
// Tanh, GELU, Sigmoid) by another Linear becomes column-parallel and that next
// one row-parallel, the pair exchanging nothing between them; a Linear left
// over becomes row-parallel splitting its own input; each Conv2d (a square
// kernel, equal padding and strides, one group) is split by output channel and
// gathered; each residual block (the zoo's) becomes a ParallelResidualBlock.
// BatchNorm2d layers are replicated (every rank holds and updates them whole,
// alike). Other layers without parameters (pooling, flatten, activations) are
// copied. The form's output is the whole model's, on every rank. The zoo's
// mlp, cnn and resnet have such forms. InputError naming the layer for what
// cannot be split over `parts` ranks: a layer with parameters of another kind,
// a size `parts` does not divide.
enum class LayerSplit {
  Column,
  Row,
  RowSplittingInput,
  OutputChannels,
  ResidualBlock,
  Replicate,
  Copy
};
std::vector<LayerSplit> plan_parallel_form(const torch::nn::Sequential& whole, int parts);

// The form itself over `group`, starting from `whole`'s weights.
torch::nn::Sequential parallel_form(const torch::nn::Sequential& whole,
                                    const CommunicatorPtr& group);

// The other way: `whole`'s parameters take the gathered values of the split
// ones of `parallel` (collective over the group), e.g. before a checkpoint.
void gather_into(const torch::nn::Sequential& parallel, torch::nn::Sequential& whole);

// For each of the form's parameters (in parameters() order, which is the whole
// model's): the dimension it is split along, or -1 when every rank holds it whole.
std::vector<int64_t> split_dims(const torch::nn::Sequential& parallel);

// The squared L2 norm of the whole model's gradient, from the form's on this
// rank: the split parameters' squares summed over the group (collective), the
// whole ones counted once.
double squared_grad_norm(const torch::nn::Sequential& parallel, Communicator& group);

// torch's clip_grad_norm_ over the whole model's gradients (squared_grad_norm).
// Returns the norm before clipping.
double clip_grad_norm(const torch::nn::Sequential& parallel, double max_norm, Communicator& group);

// A whole optimiser's state (SGD, Adam, AdamW) from the form's, gathered along
// the split dimensions (collective), for checkpoints; and back, each rank
// taking its slices, on resume. The optimisers hold the models' parameters in
// the same order.
void gather_optimizer_state(const torch::nn::Sequential& parallel,
                            const torch::optim::Optimizer& parallel_optimizer,
                            const torch::nn::Sequential& whole,
                            torch::optim::Optimizer& whole_optimizer, Communicator& group);
void load_optimizer_state(const torch::nn::Sequential& whole,
                          const torch::optim::Optimizer& whole_optimizer,
                          const torch::nn::Sequential& parallel,
                          torch::optim::Optimizer& parallel_optimizer, Communicator& group);

}  // namespace cohort::tp
