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
    std::vector<int64_t> shape(p.dim(), 1);
    shape[0] = k;
    lr_views_.push_back(torch::empty(shape, p.options().requires_grad(false)));
  }
  for (int64_t c = 0; c < k; ++c) set_lr(c, lrs_[c]);
}

void FusedSGD::set_lr(int64_t copy, double lr) {
  if (copy < 0 || copy >= copies())
    throw InputError("FusedSGD::set_lr: copy " + std::to_string(copy) + " out of range");
  lrs_[copy] = lr;
  for (at::Tensor& view : lr_views_) view.view(-1)[copy].fill_(lr);
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

// The update torch::optim::SGD makes, term by term, all K copies at once, the lr a
// K x 1 x ... tensor. In place: `p.sub_(buf * lr)` wrote and re-read a K-fold
// parameter-sized temporary (16 mlps: the optimiser took 5 of a 19 ms step);
// addcmul_ with -1 does without it (to rounding: it fuses the multiply and the add,
// up to 5e-7 apart). libtorch's fused kernel (at::_fused_sgd_) was as fast, but a
// fused job re-formed on fewer ranks then ended 4e-5 from the undisturbed job, not
// 2e-7 (script.elastic_layouts); why its rounding diverges more is not known.
void FusedSGD::step() {
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < parameters_.size(); ++i) {
    at::Tensor& p = parameters_[i];
    if (!p.grad().defined()) continue;
    at::Tensor d_p = p.grad();
    if (options_.weight_decay != 0) d_p = d_p.add(p, options_.weight_decay);
    if (options_.momentum != 0) {
      at::Tensor& buf = momentum_[i];
      if (!buf.defined()) {
        buf = d_p.clone().detach();
      } else {
        buf.mul_(options_.momentum).add_(d_p, 1 - options_.dampening);
      }
      d_p = options_.nesterov ? d_p.add(buf, options_.momentum) : buf;
    }
    p.addcmul_(d_p, lr_views_[i], -1);
  }
}

}  // namespace cohort
