// A Sequential's tensor-parallel form: Linear pairs become column- and
// row-parallel, convolutions split by output channel (tensor_parallel.h).
#include <fmt/format.h>
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>

#include "cohort/error.h"
#include "cohort/tensor_parallel.h"

namespace cohort::tp {
namespace {

namespace nn = torch::nn;

bool elementwise(const nn::Module& m) {
  return m.as<nn::ReLU>() || m.as<nn::Tanh>() || m.as<nn::GELU>() || m.as<nn::Sigmoid>();
}

// Whether another Linear follows layer i through element-wise layers only: then
// the pair needs no collective between them.
bool linear_follows(const nn::Sequential& s, size_t i) {
  for (size_t j = i + 1; j < s->size(); ++j) {
    const auto m = s->ptr(j);
    if (m->as<nn::Linear>()) return true;
    if (!elementwise(*m)) return false;
  }
  return false;
}

std::string layer_name(size_t i, const nn::Module& m) {
  return fmt::format("layer {} ({})", i, m.name());
}

// Stride 1, no dilation or groups, the same padding both ways, a square kernel
// with a bias: what SplitOutputConv2d computes.
SplitOutputConv2d split_conv(size_t i, const nn::Conv2dImpl& conv, const CommunicatorPtr& group) {
  const auto& o = conv.options;
  const auto* padding = std::get_if<torch::ExpandingArray<2>>(&o.padding());
  const auto& k = *o.kernel_size();
  const bool plain = (*o.stride())[0] == 1 && (*o.stride())[1] == 1 && (*o.dilation())[0] == 1 &&
                     (*o.dilation())[1] == 1 && o.groups() == 1 && padding &&
                     (**padding)[0] == (**padding)[1] && k[0] == k[1] && o.bias();
  if (!plain)
    throw InputError(fmt::format(
        "tensor parallelism splits convolutions of stride 1 with a square kernel, equal padding, "
        "one group and a bias; {} is another kind: replace it, or train without parallel.tensor",
        layer_name(i, conv)));
  SplitOutputConv2d split(o.in_channels(), o.out_channels(), k[0], (**padding)[0], group);
  split->load_whole(conv.weight, conv.bias);
  return split;
}

}  // namespace

nn::Sequential parallel_form(const nn::Sequential& whole, const CommunicatorPtr& group) {
  nn::Sequential out;
  bool split_input = false;  // the previous Linear left each rank its slice of the features
  for (size_t i = 0; i < whole->size(); ++i) {
    const auto m = whole->ptr(i);
    if (const auto* linear = m->as<nn::Linear>()) {
      const auto& o = linear->options;
      if (split_input || !linear_follows(whole, i)) {
        RowParallelLinear row(o.in_features(), o.out_features(), group, o.bias(), split_input);
        row->load_whole(linear->weight, linear->bias);
        out->push_back(row);
        split_input = false;
      } else {
        ColumnParallelLinear column(o.in_features(), o.out_features(), group, o.bias());
        column->load_whole(linear->weight, linear->bias);
        out->push_back(column);
        split_input = true;
      }
      continue;
    }
    if (const auto* conv = m->as<nn::Conv2d>()) {
      out->push_back(split_conv(i, *conv, group));
      continue;
    }
    if (!m->parameters().empty() || !m->buffers().empty())
      throw InputError(fmt::format(
          "tensor parallelism splits Linear and Conv2d layers and copies those without "
          "parameters; {} holds parameters or buffers of another kind: train it without "
          "parallel.tensor, or build its parallel form from cohort/tensor_parallel.h's layers",
          layer_name(i, *m)));
    out->push_back((whole->begin() + int64_t(i))->clone());
  }
  return out;
}

void gather_into(const nn::Sequential& parallel, nn::Sequential& whole) {
  at::NoGradGuard no_grad;
  auto copy = [](const std::pair<at::Tensor, at::Tensor>& from, at::Tensor& weight,
                 at::Tensor& bias) {
    weight.copy_(from.first);
    if (bias.defined()) bias.copy_(from.second);
  };
  for (size_t i = 0; i < parallel->size(); ++i) {
    const auto m = parallel->ptr(i);
    if (const auto* c = m->as<ColumnParallelLinear>()) {
      auto* w = whole->ptr(i)->as<nn::Linear>();
      copy(c->gather_whole(), w->weight, w->bias);
    } else if (const auto* r = m->as<RowParallelLinear>()) {
      auto* w = whole->ptr(i)->as<nn::Linear>();
      copy(r->gather_whole(), w->weight, w->bias);
    } else if (const auto* s = m->as<SplitOutputConv2d>()) {
      auto* w = whole->ptr(i)->as<nn::Conv2d>();
      copy(s->gather_whole(), w->weight, w->bias);
    }
  }
}

}  // namespace cohort::tp
