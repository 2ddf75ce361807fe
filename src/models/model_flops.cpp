// Multiply-add counts of the zoo's layers, mirroring zoo.cpp's builders;
// tests/unit/model_flops_test.cpp holds them to the shapes the built models produce.
#include "cohort/model_flops.h"

#include <vector>

namespace cohort {
namespace {

// One layer's multiply-adds per sample, and whether its input needs a gradient.
struct LayerCost {
  double macs;
  bool input_gradient;
};

// A k x k convolution with out_h x out_w outputs per output channel.
double conv_macs(double in_c, double out_c, double k, double out_h, double out_w) {
  return in_c * out_c * k * k * out_h * out_w;
}

std::vector<LayerCost> mlp_layers(const ModelSpec& spec) {
  std::vector<LayerCost> layers;
  double in = 1;
  for (int64_t d : spec.input_shape) in *= double(d);
  for (int64_t w : spec.widths.empty() ? std::vector<int64_t>{256, 256} : spec.widths) {
    layers.push_back({in * double(w), !layers.empty()});
    in = double(w);
  }
  layers.push_back({in * double(spec.num_classes), !layers.empty()});
  return layers;
}

std::vector<LayerCost> cnn_layers(const ModelSpec& spec) {
  // conv 3x3 (c) at full size, pool; conv 3x3 (2c) at half, pool; linear to 128; linear.
  const int64_t h = spec.input_shape[1], w = spec.input_shape[2];
  const double c = double(spec.channels), in_c = double(spec.input_shape[0]);
  const double flattened = 2 * c * double(h / 4) * double(w / 4);
  return {{conv_macs(in_c, c, 3, double(h), double(w)), false},
          {conv_macs(c, 2 * c, 3, double(h / 2), double(w / 2)), true},
          {flattened * 128, true},
          {128.0 * double(spec.num_classes), true}};
}

// ResidualBlock (models/residual_block.cpp): two 3x3 convolutions and, where the
// shape changes, a strided 1x1 shortcut, all on the block's output size.
void add_residual_block(std::vector<LayerCost>& layers, double in_c, double out_c, int64_t stride,
                        int64_t& h, int64_t& w) {
  h = (h - 1) / stride + 1;
  w = (w - 1) / stride + 1;
  layers.push_back({conv_macs(in_c, out_c, 3, double(h), double(w)), true});
  layers.push_back({conv_macs(out_c, out_c, 3, double(h), double(w)), true});
  if (stride != 1 || in_c != out_c)
    layers.push_back({conv_macs(in_c, out_c, 1, double(h), double(w)), true});
}

std::vector<LayerCost> resnet_layers(const ModelSpec& spec) {
  const double c = double(spec.channels);
  int64_t h = spec.input_shape[1], w = spec.input_shape[2];
  std::vector<LayerCost> layers = {
      {conv_macs(double(spec.input_shape[0]), c, 3, double(h), double(w)), false}};
  add_residual_block(layers, c, c, 1, h, w);
  add_residual_block(layers, c, 2 * c, 2, h, w);
  add_residual_block(layers, 2 * c, 4 * c, 2, h, w);
  layers.push_back({4 * c * double(spec.num_classes), true});
  return layers;
}

std::vector<LayerCost> zoo_layers(const ModelSpec& spec) {
  if (spec.input_shape.empty()) return {};
  if (spec.name == "mlp") return mlp_layers(spec);
  if (spec.input_shape.size() != 3) return {};
  if (spec.name == "cnn") return cnn_layers(spec);
  if (spec.name == "resnet") return resnet_layers(spec);
  return {};
}

}  // namespace

ModelFlops model_flops(const ModelSpec& spec) {
  ModelFlops flops;
  for (const LayerCost& layer : zoo_layers(spec)) {
    flops.forward += 2 * layer.macs;
    flops.backward += 2 * layer.macs * (layer.input_gradient ? 2 : 1);
  }
  return flops;
}

}  // namespace cohort
