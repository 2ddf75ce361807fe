// Column- and row-parallel linear layers and convolutions: each forward shows
// the one collective it needs.
#include <ATen/ATen.h>
#include <torch/nn/init.h>

#include <cmath>

#include "cohort/tensor_parallel.h"

namespace cohort::tp {
namespace {

// torch.nn.Linear's and Conv2d's default: uniform in +-1/sqrt(fan_in) for the
// weight (kaiming_uniform with a = sqrt(5)) and the bias, fan_in the whole layer's.
void init_uniform(at::Tensor& t, int64_t fan_in) {
  const double bound = 1.0 / std::sqrt(double(fan_in));
  at::NoGradGuard no_grad;
  t.uniform_(-bound, bound);
}

at::Tensor gather_rows(const at::Tensor& t, Communicator& group, int64_t dim) {
  return at::cat(group.allgather(t.detach().contiguous()), dim);
}

void copy_slice(at::Tensor& into, const at::Tensor& whole, int64_t dim, const Share& s) {
  at::NoGradGuard no_grad;
  into.copy_(whole.narrow(dim, s.begin, s.size));
}

// Row-parallel layers (linear or convolution): the weight split along its
// inputs (dimension 1), the bias whole on every rank.
void load_input_split(at::Tensor& weight, at::Tensor& bias, const at::Tensor& w,
                      const at::Tensor& b, const Share& s) {
  copy_slice(weight, w, 1, s);
  if (bias.defined()) copy_slice(bias, b, 0, Share{0, b.size(0)});
}

std::pair<at::Tensor, at::Tensor> gather_input_split(const at::Tensor& weight,
                                                     const at::Tensor& bias, Communicator& group) {
  return {gather_rows(weight, group, 1), bias.defined() ? bias.detach().clone() : at::Tensor()};
}

}  // namespace

ColumnParallelLinearImpl::ColumnParallelLinearImpl(int64_t in, int64_t out, CommunicatorPtr group,
                                                   bool bias, bool gather_output)
    : in_(in), out_(out), group_(std::move(group)), has_bias_(bias), gather_output_(gather_output) {
  reset();
}

void ColumnParallelLinearImpl::reset() {
  const Share s = share_of(out_, group_->size(), group_->rank(), "a linear layer's outputs");
  weight = register_parameter("weight", at::empty({s.size, in_}));
  init_uniform(weight, in_);
  if (!has_bias_) return;
  bias = register_parameter("bias", at::empty({s.size}));
  init_uniform(bias, in_);
}

at::Tensor ColumnParallelLinearImpl::forward(const at::Tensor& x) {
  const at::Tensor y = at::linear(copy_to_group(x, *group_), weight, bias);
  return gather_output_ ? gather_from_group(y, *group_, -1) : y;
}

void ColumnParallelLinearImpl::load_whole(const at::Tensor& w, const at::Tensor& b) {
  const Share s = share_of(out_, group_->size(), group_->rank(), "a linear layer's outputs");
  copy_slice(weight, w, 0, s);
  if (has_bias_) copy_slice(bias, b, 0, s);
}

std::pair<at::Tensor, at::Tensor> ColumnParallelLinearImpl::gather_whole() const {
  return {gather_rows(weight, *group_, 0),
          has_bias_ ? gather_rows(bias, *group_, 0) : at::Tensor()};
}

RowParallelLinearImpl::RowParallelLinearImpl(int64_t in, int64_t out, CommunicatorPtr group,
                                             bool bias, bool input_is_parallel)
    : in_(in),
      out_(out),
      group_(std::move(group)),
      has_bias_(bias),
      input_is_parallel_(input_is_parallel) {
  reset();
}

void RowParallelLinearImpl::reset() {
  const Share s = share_of(in_, group_->size(), group_->rank(), "a linear layer's inputs");
  weight = register_parameter("weight", at::empty({out_, s.size}));
  init_uniform(weight, in_);
  if (!has_bias_) return;
  // Every rank adds the whole bias after the sum: rank 0's, so all hold the same.
  bias = register_parameter("bias", at::empty({out_}));
  init_uniform(bias, in_);
  at::NoGradGuard no_grad;
  group_->broadcast(bias, 0);
}

at::Tensor RowParallelLinearImpl::forward(const at::Tensor& x) {
  const at::Tensor mine = input_is_parallel_ ? x : split_to_group(x, *group_, -1);
  const at::Tensor y = reduce_from_group(at::linear(mine, weight), *group_);
  return has_bias_ ? y + bias : y;
}

void RowParallelLinearImpl::load_whole(const at::Tensor& w, const at::Tensor& b) {
  load_input_split(weight, bias, w, b,
                   share_of(in_, group_->size(), group_->rank(), "a linear layer's inputs"));
}

std::pair<at::Tensor, at::Tensor> RowParallelLinearImpl::gather_whole() const {
  return gather_input_split(weight, bias, *group_);
}

SplitOutputConv2dImpl::SplitOutputConv2dImpl(int64_t in_channels, int64_t out_channels,
                                             int64_t kernel, int64_t padding, CommunicatorPtr group,
                                             bool gather_output, bool bias, int64_t stride)
    : in_(in_channels),
      out_(out_channels),
      kernel_(kernel),
      padding_(padding),
      stride_(stride),
      group_(std::move(group)),
      gather_output_(gather_output),
      has_bias_(bias) {
  reset();
}

void SplitOutputConv2dImpl::reset() {
  const Share s = share_of(out_, group_->size(), group_->rank(), "a convolution's channels");
  const int64_t fan_in = in_ * kernel_ * kernel_;
  weight = register_parameter("weight", at::empty({s.size, in_, kernel_, kernel_}));
  init_uniform(weight, fan_in);
  if (!has_bias_) return;
  bias = register_parameter("bias", at::empty({s.size}));
  init_uniform(bias, fan_in);
}

at::Tensor SplitOutputConv2dImpl::forward(const at::Tensor& x) {
  const at::Tensor y = at::conv2d(copy_to_group(x, *group_), weight, bias, stride_, padding_);
  return gather_output_ ? gather_from_group(y, *group_, 1) : y;
}

void SplitOutputConv2dImpl::load_whole(const at::Tensor& w, const at::Tensor& b) {
  const Share s = share_of(out_, group_->size(), group_->rank(), "a convolution's channels");
  copy_slice(weight, w, 0, s);
  if (has_bias_) copy_slice(bias, b, 0, s);
}

std::pair<at::Tensor, at::Tensor> SplitOutputConv2dImpl::gather_whole() const {
  return {gather_rows(weight, *group_, 0),
          has_bias_ ? gather_rows(bias, *group_, 0) : at::Tensor()};
}

RowParallelConv2dImpl::RowParallelConv2dImpl(int64_t in_channels, int64_t out_channels,
                                             int64_t kernel, int64_t padding, CommunicatorPtr group,
                                             bool bias, int64_t stride)
    : in_(in_channels),
      out_(out_channels),
      kernel_(kernel),
      padding_(padding),
      stride_(stride),
      group_(std::move(group)),
      has_bias_(bias) {
  reset();
}

void RowParallelConv2dImpl::reset() {
  const Share s = share_of(in_, group_->size(), group_->rank(), "a convolution's input channels");
  const int64_t fan_in = in_ * kernel_ * kernel_;
  weight = register_parameter("weight", at::empty({out_, s.size, kernel_, kernel_}));
  init_uniform(weight, fan_in);
  if (!has_bias_) return;
  bias = register_parameter("bias", at::empty({out_}));
  init_uniform(bias, fan_in);
  at::NoGradGuard no_grad;
  group_->broadcast(bias, 0);  // added whole after the sum: every rank the same
}

at::Tensor RowParallelConv2dImpl::forward(const at::Tensor& x) {
  const at::Tensor y = reduce_from_group(at::conv2d(x, weight, {}, stride_, padding_), *group_);
  return has_bias_ ? y + bias.view({1, -1, 1, 1}) : y;
}

void RowParallelConv2dImpl::load_whole(const at::Tensor& w, const at::Tensor& b) {
  load_input_split(weight, bias, w, b,
                   share_of(in_, group_->size(), group_->rank(), "a convolution's input channels"));
}

std::pair<at::Tensor, at::Tensor> RowParallelConv2dImpl::gather_whole() const {
  return gather_input_split(weight, bias, *group_);
}

}  // namespace cohort::tp
