#include "cohort/model_flops.h"

#include <gtest/gtest.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>

namespace cohort {
namespace {

// Multiply-adds read off a built model running one sample: a linear layer costs its
// weight's size, a convolution its weight's size per output position (a residual
// block's convolutions all run at the block's output size).
struct Walked {
  double macs = 0;
  double first_layer_macs = -1;
};

double layer_macs(const torch::nn::Module& layer, const at::Tensor& out) {
  double macs = 0;
  for (const auto& module : layer.modules(/*include_self=*/true)) {
    if (auto* conv = module->as<torch::nn::Conv2d>()) {
      macs += double(conv->weight.numel()) * double(out.size(2) * out.size(3));
    } else if (auto* linear = module->as<torch::nn::Linear>()) {
      macs += double(linear->weight.numel());
    }
  }
  return macs;
}

Walked walk(const ModelSpec& spec) {
  torch::NoGradGuard no_grad;
  auto model = build_model(spec);
  std::vector<int64_t> shape = {1};
  shape.insert(shape.end(), spec.input_shape.begin(), spec.input_shape.end());
  at::Tensor x = torch::randn(shape);
  Walked walked;
  for (auto& layer : *model) {
    x = layer.forward<at::Tensor>(x);
    const double macs = layer_macs(*layer.ptr(), x);
    if (macs > 0 && walked.first_layer_macs < 0) walked.first_layer_macs = macs;
    walked.macs += macs;
  }
  return walked;
}

TEST(ModelFlops, AgreeWithTheShapesOfTheBuiltModels) {
  for (const std::string name : {"mlp", "cnn", "resnet"}) {
    for (int64_t channels : {1, 3, 8}) {
      for (const auto& input : {std::vector<int64_t>{1, 28, 28}, std::vector<int64_t>{3, 17, 9}}) {
        ModelSpec spec;
        spec.name = name;
        spec.channels = channels;
        spec.widths = channels == 3 ? std::vector<int64_t>{7, 5, 3} : std::vector<int64_t>{};
        spec.num_classes = 4;
        spec.input_shape = input;
        const Walked walked = walk(spec);
        ASSERT_GT(walked.macs, 0);
        const ModelFlops flops = model_flops(spec);
        const std::string what = name + " channels " + std::to_string(channels) + " input " +
                                 std::to_string(input[1]) + "x" + std::to_string(input[2]);
        EXPECT_EQ(flops.forward, 2 * walked.macs) << what;
        EXPECT_EQ(flops.backward, 2 * walked.macs + 2 * (walked.macs - walked.first_layer_macs))
            << what;
        EXPECT_EQ(flops.training(), flops.forward + flops.backward);
      }
    }
  }
}

// The default mlp by hand: 784x256 + 256x256 + 256x10 multiply-adds.
TEST(ModelFlops, DefaultMlpByHand) {
  const double macs = 784.0 * 256 + 256.0 * 256 + 256.0 * 10;
  const ModelFlops flops = model_flops(ModelSpec{"mlp"});
  EXPECT_EQ(flops.forward, 2 * macs);
  EXPECT_EQ(flops.backward, 2 * macs + 2 * (macs - 784.0 * 256));
}

TEST(ModelFlops, UnknownModelsAndInputsCostNothing) {
  EXPECT_EQ(model_flops(ModelSpec{"transformer"}).training(), 0);
  ModelSpec flat{"cnn"};
  flat.input_shape = {784};
  EXPECT_EQ(model_flops(flat).training(), 0);
}

}  // namespace
}  // namespace cohort
