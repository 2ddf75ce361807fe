// Fused layers and the optimizer and loss that go with them (see fused.h).
#include <torch/torch.h>

#include <string>

#include "cohort/error.h"
#include "cohort/fused.h"

namespace cohort {
namespace {

// x_k W_k^T + b_k for every copy k, as one baddbmm. Its own backward returns each
// weight's gradient transposed (in x out), which autograd then copies into the
// parameter's layout every step; dY_k^T x_k is that gradient in the layout itself.
class BatchedLinear : public torch::autograd::Function<BatchedLinear> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& input,
                            const at::Tensor& weight, const at::Tensor& bias) {
    ctx->save_for_backward({input, weight});
    return torch::baddbmm(bias.unsqueeze(1), input, weight.transpose(1, 2));
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor& dy = grads[0];
    const at::Tensor dx = ctx->needs_input_grad(0) ? torch::bmm(dy, saved[1]) : at::Tensor();
    return {dx, torch::bmm(dy.transpose(1, 2), saved[0]), dy.sum(1)};
  }
};

}  // namespace

FusedLinearImpl::FusedLinearImpl(int64_t copies, int64_t in_features, int64_t out_features)
    : copies(copies), in_features(in_features), out_features(out_features) {
  reset();
}

void FusedLinearImpl::reset() {
  // Values are placeholders: a fused array copies its members' weights in.
  weight = register_parameter("weight", torch::zeros({copies, out_features, in_features}));
  bias = register_parameter("bias", torch::zeros({copies, out_features}));
}

at::Tensor FusedLinearImpl::forward(const at::Tensor& input) {
  // One batched GEMM for all copies: bias_k + x_k W_k^T.
  return BatchedLinear::apply(input, weight, bias);
}

FusedConv2dImpl::FusedConv2dImpl(int64_t copies, torch::nn::Conv2dOptions single)
    : copies(copies), single(std::move(single)) {
  reset();
}

void FusedConv2dImpl::reset() {
  const auto k = *single.kernel_size();
  weight = register_parameter(
      "weight", torch::zeros({copies, single.out_channels(), single.in_channels(), k[0], k[1]}));
  bias = single.bias() ? register_parameter("bias", torch::zeros({copies, single.out_channels()}))
                       : at::Tensor();
}

at::Tensor FusedConv2dImpl::forward(const at::Tensor& input) {
  // Group k of a grouped convolution sees input channels [k*C, (k+1)*C) and owns
  // output channels [k*O, (k+1)*O): exactly copy k's convolution.
  const auto padding = std::get<torch::ExpandingArray<2>>(single.padding());
  return torch::conv2d(input, weight.flatten(0, 1), bias.defined() ? bias.flatten() : at::Tensor(),
                       *single.stride(), *padding, *single.dilation(), copies);
}

at::Tensor FusedFlattenImpl::forward(const at::Tensor& input) {
  const int64_t batch = input.size(0);
  return input.reshape({batch, copies, -1}).transpose(0, 1);
}

at::Tensor fused_cross_entropy(const at::Tensor& logits, const at::Tensor& targets) {
  if (logits.dim() != 3)
    throw InputError("fused_cross_entropy: logits must be copies x batch x classes");
  const int64_t copies = logits.size(0), batch = logits.size(1);
  at::Tensor y = targets;
  if (y.dim() == 1 && y.size(0) == batch) y = y.unsqueeze(0).expand({copies, batch});
  if (y.dim() != 2 || y.size(0) != copies || y.size(1) != batch)
    throw InputError("fused_cross_entropy: targets must be batch or copies x batch, matching " +
                     std::to_string(copies) + " x " + std::to_string(batch));
  const at::Tensor per_sample = torch::nn::functional::cross_entropy(
      logits.reshape({copies * batch, -1}), y.reshape(-1),
      torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone));
  return per_sample.view({copies, batch}).mean(1);
}

FusedSGD::FusedSGD(std::vector<at::Tensor> parameters, std::vector<double> lrs,
                   FusedSGDOptions options)
    : parameters_(std::move(parameters)),
      lrs_(std::move(lrs)),
      momentum_(parameters_.size()),
      options_(options) {
  const int64_t k = copies();
  if (k < 1) throw InputError("FusedSGD: need one learning rate per copy, got none");
  if (options.nesterov && (options.momentum <= 0 || options.dampening != 0))
    throw InputError("FusedSGD: Nesterov momentum requires momentum > 0 and dampening 0");
  for (size_t i = 0; i < parameters_.size(); ++i) {
    const at::Tensor& p = parameters_[i];
    if (p.dim() < 1 || p.size(0) != k)
      throw InputError("FusedSGD: parameter " + std::to_string(i) +
                       " does not have the copy count " + std::to_string(k) +
                       " as its first dimension; pass a fused array's parameters");
  }
}

void FusedSGD::set_lr(int64_t copy, double lr) {
  if (copy < 0 || copy >= copies())
    throw InputError("FusedSGD::set_lr: copy " + std::to_string(copy) + " out of range");
  lrs_[copy] = lr;
}

void FusedSGD::set_momentum_buffers(std::vector<at::Tensor> buffers) {
  if (buffers.size() != parameters_.size())
    throw InputError("FusedSGD::set_momentum_buffers: " + std::to_string(buffers.size()) +
                     " buffers for " + std::to_string(parameters_.size()) + " parameters");
  for (size_t i = 0; i < buffers.size(); ++i)
    if (buffers[i].defined() && !buffers[i].sizes().equals(parameters_[i].sizes()))
      throw InputError("FusedSGD::set_momentum_buffers: buffer " + std::to_string(i) +
                       " does not have its parameter's shape");
  momentum_ = std::move(buffers);
}

double FusedSGD::lr(int64_t copy) const { return lrs_.at(copy); }

void FusedSGD::zero_grad() {
  for (at::Tensor& p : parameters_)
    if (p.grad().defined()) p.mutable_grad() = at::Tensor();
}

// libtorch's fused SGD kernel (one pass over parameter, gradient and momentum, the
// update torch::optim::SGD makes), called once per copy on that copy's slices, as
// the lr is one number per call. Term by term, with its temporaries, the update
// wrote and re-read a K-fold parameter-sized tensor per op: on the CPU the fused
// step trains 16 mlps 1.4x faster (docs/benchmarks/fused.md).
void FusedSGD::step() {
  torch::NoGradGuard no_grad;
  // The kernel takes one "first step" flag per call: a momentum buffer starts as
  // the gradient itself, so parameters whose buffer starts now go in a call of their own.
  std::vector<size_t> starting, continuing;
  for (size_t i = 0; i < parameters_.size(); ++i) {
    if (!parameters_[i].grad().defined()) continue;
    const bool starts = options_.momentum != 0 && !momentum_[i].defined();
    if (starts) momentum_[i] = at::empty_like(parameters_[i]);
    (starts ? starting : continuing).push_back(i);
  }
  for (int64_t copy = 0; copy < copies(); ++copy) {
    step_copy(continuing, copy, false);
    step_copy(starting, copy, true);
  }
}

void FusedSGD::step_copy(const std::vector<size_t>& which, int64_t copy, bool first_step) {
  if (which.empty()) return;
  std::vector<at::Tensor> params, grads, buffers;
  for (size_t i : which) {
    params.push_back(parameters_[i][copy]);
    grads.push_back(parameters_[i].grad()[copy]);
    if (options_.momentum != 0) buffers.push_back(momentum_[i][copy]);
  }
  at::_fused_sgd_(params, grads, buffers, options_.weight_decay, options_.momentum, lrs_[copy],
                  options_.dampening, options_.nesterov, /*maximize=*/false, first_step);
}

}  // namespace cohort
