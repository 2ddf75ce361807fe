// A Sequential's tensor-parallel form: Linear pairs become column- and
// row-parallel, convolutions split by output channel, residual blocks split
// Megatron's way, batch norms replicated (tensor_parallel.h).
#include <fmt/format.h>
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>

#include "cohort/error.h"
#include "cohort/tensor_parallel.h"
#include "models/residual_block.h"

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

void require_divides(int parts, int64_t size, size_t i, const nn::Module& m, const char* what) {
  if (size % parts != 0)
    throw InputError(fmt::format(
        "tensor parallelism over {} ranks splits the {} of {} evenly, but it has {}: choose a "
        "tensor degree that divides {}, or another size",
        parts, what, layer_name(i, m), size, size));
}

// No dilation or groups, the same padding and stride both ways, a square
// kernel: what SplitOutputConv2d computes.
void check_conv(size_t i, const nn::Conv2dImpl& conv, int parts) {
  const auto& o = conv.options;
  const auto* padding = std::get_if<torch::ExpandingArray<2>>(&o.padding());
  const auto& k = *o.kernel_size();
  const bool plain = (*o.stride())[0] == (*o.stride())[1] && (*o.dilation())[0] == 1 &&
                     (*o.dilation())[1] == 1 && o.groups() == 1 && padding &&
                     (**padding)[0] == (**padding)[1] && k[0] == k[1];
  if (!plain)
    throw InputError(fmt::format(
        "tensor parallelism splits convolutions with a square kernel, equal padding and strides "
        "and one group; {} is another kind: replace it, or train without parallel.tensor",
        layer_name(i, conv)));
  require_divides(parts, o.out_channels(), i, conv, "output channels");
}

// Replicated layers are copied whole and updated alike on every rank; gathering
// copies their parameters and buffers back.
void copy_state(const nn::Module& from, nn::Module& to) {
  at::NoGradGuard no_grad;
  auto params = to.parameters();
  auto from_params = from.parameters();
  for (size_t p = 0; p < params.size(); ++p) params[p].copy_(from_params[p]);
  auto buffers = to.buffers();
  auto from_buffers = from.buffers();
  for (size_t b = 0; b < buffers.size(); ++b) buffers[b].copy_(from_buffers[b]);
}

template <typename Layer>
Layer from_whole(Layer layer, const at::Tensor& weight, const at::Tensor& bias) {
  layer->load_whole(weight, bias);
  return layer;
}

}  // namespace

std::vector<LayerSplit> plan_parallel_form(const nn::Sequential& whole, int parts) {
  std::vector<LayerSplit> plan;
  bool split_input = false;  // the previous Linear left each rank its slice of the features
  for (size_t i = 0; i < whole->size(); ++i) {
    const auto m = whole->ptr(i);
    if (const auto* linear = m->as<nn::Linear>()) {
      if (split_input || !linear_follows(whole, i)) {
        require_divides(parts, linear->options.in_features(), i, *m, "input features");
        plan.push_back(split_input ? LayerSplit::Row : LayerSplit::RowSplittingInput);
        split_input = false;
      } else {
        require_divides(parts, linear->options.out_features(), i, *m, "output features");
        plan.push_back(LayerSplit::Column);
        split_input = true;
      }
    } else if (const auto* conv = m->as<nn::Conv2d>()) {
      check_conv(i, *conv, parts);
      plan.push_back(LayerSplit::OutputChannels);
    } else if (const auto* block = m->as<ResidualBlockImpl>()) {
      require_divides(parts, block->out_channels(), i, *m, "output channels");
      plan.push_back(LayerSplit::ResidualBlock);
    } else if (m->as<nn::BatchNorm2d>()) {
      plan.push_back(LayerSplit::Replicate);
    } else if (m->parameters().empty() && m->buffers().empty()) {
      plan.push_back(LayerSplit::Copy);
    } else {
      throw InputError(fmt::format(
          "tensor parallelism splits Linear and Conv2d layers and residual blocks, replicates "
          "BatchNorm2d and copies layers without parameters; {} holds parameters or buffers of "
          "another kind: train it without parallel.tensor, or build its parallel form from "
          "cohort/tensor_parallel.h's layers",
          layer_name(i, *m)));
    }
  }
  return plan;
}

nn::Sequential parallel_form(const nn::Sequential& whole, const CommunicatorPtr& group) {
  const auto plan = plan_parallel_form(whole, group->size());
  nn::Sequential out;
  for (size_t i = 0; i < plan.size(); ++i) {
    const auto m = whole->ptr(i);
    const auto* linear = m->as<nn::Linear>();
    switch (plan[i]) {
      case LayerSplit::Column:
        out->push_back(from_whole(ColumnParallelLinear(linear->options.in_features(),
                                                       linear->options.out_features(), group,
                                                       linear->options.bias()),
                                  linear->weight, linear->bias));
        break;
      case LayerSplit::Row:
      case LayerSplit::RowSplittingInput:
        out->push_back(from_whole(
            RowParallelLinear(linear->options.in_features(), linear->options.out_features(),
                              group, linear->options.bias(), plan[i] == LayerSplit::Row),
            linear->weight, linear->bias));
        break;
      case LayerSplit::OutputChannels: {
        const auto* conv = m->as<nn::Conv2d>();
        const auto& o = conv->options;
        const int64_t padding = (**std::get_if<torch::ExpandingArray<2>>(&o.padding()))[0];
        out->push_back(from_whole(
            SplitOutputConv2d(o.in_channels(), o.out_channels(), (*o.kernel_size())[0], padding,
                              group, /*gather_output=*/true, o.bias(), (*o.stride())[0]),
            conv->weight, conv->bias));
        break;
      }
      case LayerSplit::ResidualBlock: {
        const auto* block = m->as<ResidualBlockImpl>();
        ParallelResidualBlock split(block->in_channels(), block->out_channels(), block->stride(),
                                    group);
        split->load_whole(*m);
        out->push_back(split);
        break;
      }
      case LayerSplit::Replicate:
      case LayerSplit::Copy:
        out->push_back((whole->begin() + int64_t(i))->clone());
        break;
    }
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
    } else if (const auto* b = m->as<ParallelResidualBlock>()) {
      b->gather_into(*whole->ptr(i));
    } else if (m->as<nn::BatchNorm2d>()) {
      copy_state(*m, *whole->ptr(i));
    }
  }
}

std::vector<int64_t> split_dims(const nn::Sequential& parallel) {
  std::vector<int64_t> dims;
  for (size_t i = 0; i < parallel->size(); ++i) {
    const auto m = parallel->ptr(i);
    if (const auto* r = m->as<RowParallelLinear>()) {
      dims.push_back(1);                            // weight: input columns
      if (r->bias.defined()) dims.push_back(-1);    // bias: whole on every rank
      continue;
    }
    if (const auto* b = m->as<ParallelResidualBlock>()) {
      for (int64_t d : b->split_dims()) dims.push_back(d);
      continue;
    }
    const int64_t dim = m->as<nn::BatchNorm2d>() ? -1 : 0;  // replicated, or output rows
    for (size_t p = 0; p < m->parameters().size(); ++p) dims.push_back(dim);
  }
  return dims;
}

}  // namespace cohort::tp
