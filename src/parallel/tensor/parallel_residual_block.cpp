// A residual block split Megatron's way (tensor_parallel.h): which of its
// tensors are split along which dimension follows from their names, so loading
// a whole block's share and gathering it back are one loop each.
#include <ATen/ATen.h>
#include <fmt/format.h>
#include <torch/nn/modules/conv.h>

#include "cohort/error.h"
#include "cohort/tensor_parallel.h"

namespace cohort::tp {
namespace {

namespace nn = torch::nn;

using NamedTensorDict = torch::OrderedDict<std::string, at::Tensor>;

// Parameters and buffers by name: a block's whole state.
NamedTensorDict parameters_and_buffers(const nn::Module& block) {
  NamedTensorDict all = block.named_parameters();
  for (const auto& b : block.named_buffers()) all.insert(b.key(), b.value());
  return all;
}

bool starts_with(const std::string& name, const char* prefix) { return name.rfind(prefix, 0) == 0; }

// The first convolution and its batch norm hold this rank's output channels,
// the second convolution its input channels; the rest (and batch norm's
// counter, a single number) is whole.
int64_t residual_split_dim(const std::string& name, const at::Tensor& t) {
  if (t.dim() == 0) return -1;
  if (starts_with(name, "conv1.") || starts_with(name, "bn1.")) return 0;
  if (starts_with(name, "conv2.")) return 1;
  return -1;
}

const at::Tensor& whole_tensor(const NamedTensorDict& whole, const std::string& name) {
  const at::Tensor* t = whole.find(name);
  if (t == nullptr)
    throw InputError(fmt::format(
        "a residual block's tensor-parallel form: the whole block has no '{}' (it takes blocks "
        "of conv1, bn1, conv2, bn2 and an optional shortcut of a 1x1 conv and a batch norm)",
        name));
  return *t;
}

}  // namespace

ParallelResidualBlockImpl::ParallelResidualBlockImpl(int64_t in_channels, int64_t out_channels,
                                                     int64_t stride, CommunicatorPtr group)
    : in_(in_channels), out_(out_channels), stride_(stride), group_(std::move(group)) {
  reset();
}

void ParallelResidualBlockImpl::reset() {
  const Share s = share_of(out_, group_->size(), group_->rank(), "a residual block's channels");
  conv1_ =
      register_module("conv1", SplitOutputConv2d(in_, out_, 3, 1, group_,
                                                 /*gather_output=*/false, /*bias=*/false, stride_));
  bn1_ = register_module("bn1", nn::BatchNorm2d(s.size));
  conv2_ = register_module("conv2", RowParallelConv2d(out_, out_, 3, 1, group_, /*bias=*/false));
  bn2_ = register_module("bn2", nn::BatchNorm2d(out_));
  shortcut_ = nn::Sequential();
  if (stride_ != 1 || in_ != out_) {
    shortcut_->push_back(nn::Conv2d(nn::Conv2dOptions(in_, out_, 1).stride(stride_).bias(false)));
    shortcut_->push_back(nn::BatchNorm2d(out_));
    // Replicated: rank 0's initial weights on every rank.
    at::NoGradGuard no_grad;
    for (at::Tensor p : shortcut_->parameters()) group_->broadcast(p, 0);
  }
  register_module("shortcut", shortcut_);
}

at::Tensor ParallelResidualBlockImpl::forward(const at::Tensor& x) {
  at::Tensor out = at::relu(bn1_->forward(conv1_->forward(x)));
  out = bn2_->forward(conv2_->forward(out));
  const at::Tensor skip = shortcut_->is_empty() ? x : shortcut_->forward(x);
  return at::relu(out + skip);
}

void ParallelResidualBlockImpl::load_whole(const nn::Module& block) {
  const NamedTensorDict whole = parameters_and_buffers(block);
  at::NoGradGuard no_grad;
  for (auto& item : parameters_and_buffers(*this)) {
    const std::string& name = item.key();
    at::Tensor& mine = item.value();
    const at::Tensor& all = whole_tensor(whole, name);
    const int64_t dim = residual_split_dim(name, mine);
    at::Tensor part = all;
    if (dim >= 0) {
      const Share s =
          share_of(all.size(dim), group_->size(), group_->rank(), "a residual block's channels");
      part = all.narrow(dim, s.begin, s.size);
    }
    if (!part.sizes().equals(mine.sizes()))
      throw InputError(fmt::format(
          "a residual block's tensor-parallel form: '{}' is {} in the whole block, {} here", name,
          c10::str(all.sizes()), c10::str(mine.sizes())));
    mine.copy_(part);
  }
}

void ParallelResidualBlockImpl::gather_into(nn::Module& block) const {
  const NamedTensorDict whole = parameters_and_buffers(block);
  at::NoGradGuard no_grad;
  for (const auto& item : parameters_and_buffers(*this)) {
    const std::string& name = item.key();
    const at::Tensor& mine = item.value();
    at::Tensor all = whole_tensor(whole, name);
    const int64_t dim = residual_split_dim(name, mine);
    all.copy_(dim < 0 ? mine : at::cat(group_->allgather(mine.detach().contiguous()), dim));
  }
}

std::vector<int64_t> ParallelResidualBlockImpl::split_dims() const {
  std::vector<int64_t> dims;
  for (const auto& p : named_parameters()) dims.push_back(residual_split_dim(p.key(), p.value()));
  return dims;
}

}  // namespace cohort::tp
