// Tensor parallelism's pure parts: which slice of a split dimension each rank
// holds, and what each layer of a Sequential becomes in its parallel form.
#include <gtest/gtest.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>

#include "cohort/error.h"
#include "cohort/models.h"
#include "cohort/tensor_parallel.h"

namespace cohort::tp {
namespace {

TEST(TensorShare, EqualConsecutiveSlicesInRankOrder) {
  for (int parts : {1, 2, 4, 8}) {
    int64_t next = 0;
    for (int i = 0; i < parts; ++i) {
      const Share s = share_of(64, parts, i, "outputs");
      EXPECT_EQ(s.begin, next);
      EXPECT_EQ(s.size, 64 / parts);
      next += s.size;
    }
    EXPECT_EQ(next, 64);
  }
}

TEST(TensorShare, AnUnevenSplitIsRefusedNamingWhatToChange) {
  try {
    share_of(10, 4, 0, "a linear layer's outputs");
    FAIL() << "10 outputs split among 4 ranks";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("splits a linear layer's outputs evenly, but it has 10"),
              std::string::npos)
        << e.what();
  }
}

using L = LayerSplit;

// The zoo's mlp: Flatten, then column, ReLU, row (no collective between the
// two), ReLU, and the classifier row-parallel splitting its own input.
TEST(ParallelForm, TheMlpPairsColumnWithRowAndSplitsTheLastInput) {
  ModelSpec spec;
  spec.name = "mlp";
  spec.widths = {64, 32};
  EXPECT_EQ(plan_parallel_form(build_model(spec), 2),
            (std::vector<L>{L::Copy, L::Column, L::Copy, L::Row, L::Copy, L::RowSplittingInput}));
  spec.widths = {64, 32, 16};  // column, row, column, row
  EXPECT_EQ(plan_parallel_form(build_model(spec), 4),
            (std::vector<L>{L::Copy, L::Column, L::Copy, L::Row, L::Copy, L::Column, L::Copy,
                            L::Row}));
}

TEST(ParallelForm, TheCnnSplitsItsConvolutionsByChannel) {
  ModelSpec spec;
  spec.name = "cnn";
  spec.channels = 4;
  EXPECT_EQ(plan_parallel_form(build_model(spec), 4),
            (std::vector<L>{L::OutputChannels, L::Copy, L::Copy, L::OutputChannels, L::Copy,
                            L::Copy, L::Copy, L::Column, L::Copy, L::Row}));
}

// The zoo's resnet: the stem's convolution split and gathered, its batch norm
// replicated, each residual block split inside (Megatron's pair of
// convolutions), the classifier row-parallel.
TEST(ParallelForm, TheResnetSplitsItsBlocksAndReplicatesItsStemsBatchNorm) {
  ModelSpec spec;
  spec.name = "resnet";
  spec.channels = 4;
  EXPECT_EQ(
      plan_parallel_form(build_model(spec), 4),
      (std::vector<L>{L::OutputChannels, L::Replicate, L::Copy, L::ResidualBlock, L::ResidualBlock,
                      L::ResidualBlock, L::Copy, L::Copy, L::RowSplittingInput}));
  spec.channels = 6;  // the first block's 6 channels among 4 ranks
  EXPECT_THROW(plan_parallel_form(build_model(spec), 4), InputError);
}

TEST(ParallelForm, WhatCannotBeSplitIsRefusedNamingTheLayer) {
  auto refusal = [](const torch::nn::Sequential& s, int parts) -> std::string {
    try {
      plan_parallel_form(s, parts);
    } catch (const InputError& e) {
      return e.what();
    }
    return "";
  };
  ModelSpec mlp;
  mlp.name = "mlp";
  mlp.widths = {6};
  EXPECT_NE(refusal(build_model(mlp), 4).find("the output features of layer 1"),
            std::string::npos);
  EXPECT_EQ(refusal(build_model(mlp), 2), "");
  torch::nn::Sequential normalised(torch::nn::Linear(8, 8), torch::nn::LayerNorm(
                                                                 torch::nn::LayerNormOptions({8})));
  EXPECT_NE(refusal(normalised, 2).find("layer 1 (torch::nn::LayerNorm"),
            std::string::npos)
      << refusal(normalised, 2);
}

}  // namespace
}  // namespace cohort::tp
