// Placement is a pure choice (tested for every case without a GPU); the CUDA
// half of the tests runs where a GPU is visible and says why it skips elsewhere.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "cohort/device.h"
#include "cohort/error.h"
#include "cohort/models.h"

namespace {

using cohort::choose_placement;

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const cohort::InputError& e) {
    return e.what();
  }
  return "";
}

TEST(Placement, CpuUnlessAskedOrAutoWithAGpu) {
  EXPECT_TRUE(choose_placement("cpu", "fp32", true, 4, 0).device.is_cpu());
  EXPECT_TRUE(choose_placement("auto", "fp32", true, 0, 0).device.is_cpu());
  EXPECT_TRUE(choose_placement("auto", "fp32", false, 0, 0).device.is_cpu());
  const auto p = choose_placement("auto", "fp32", true, 2, 3);
  EXPECT_EQ(p.device, c10::Device(c10::kCUDA, 1)) << "local rank 3 of 2 GPUs takes GPU 1";
  EXPECT_EQ(choose_placement("cuda", "bf16", true, 8, 5).describe(), "cuda:5, bf16 autocast");
  EXPECT_FALSE(choose_placement("cpu", "fp32", true, 0, 0).bf16_autocast);
  EXPECT_TRUE(choose_placement("cpu", "bf16", false, 0, 0).bf16_autocast);
}

TEST(Placement, CudaWithoutAGpuOrWithoutCudaIsOneLineSayingWhatToSet) {
  EXPECT_NE(error_of([] { choose_placement("cuda", "fp32", true, 0, 0); }).find("no GPU is visible"),
            std::string::npos);
  EXPECT_NE(error_of([] { choose_placement("cuda", "fp32", false, 1, 0); }).find("CPU-only"),
            std::string::npos);
  EXPECT_NE(error_of([] { choose_placement("gpu", "fp32", true, 1, 0); }).find("cpu, cuda, auto"),
            std::string::npos);
  EXPECT_NE(error_of([] { choose_placement("cpu", "fp16", true, 1, 0); }).find("fp32, bf16"),
            std::string::npos);
}

TEST(Placement, CpuBatchIsNotCopied) {
  cohort::Batch batch{torch::rand({4, 1, 28, 28}), torch::zeros({4}, torch::kLong)};
  const auto placed = cohort::place_batch(batch, cohort::Placement{});
  EXPECT_EQ(placed.inputs.data_ptr(), batch.inputs.data_ptr());
}

TEST(Autocast, Bf16ScopeCastsMatmulsAndRestoresOnExit) {
  const auto a = torch::rand({8, 8}), b = torch::rand({8, 8});
  {
    cohort::AutocastScope scope(choose_placement("cpu", "bf16", false, 0, 0));
    EXPECT_EQ(torch::mm(a, b).scalar_type(), torch::kBFloat16);
  }
  EXPECT_EQ(torch::mm(a, b).scalar_type(), torch::kFloat);
  {
    cohort::AutocastScope none(choose_placement("cpu", "fp32", false, 0, 0));
    EXPECT_EQ(torch::mm(a, b).scalar_type(), torch::kFloat);
  }
}

// On a GPU: one SGD step of the cnn gives the CPU's weights. cuDNN may use TF32
// for convolutions (10-bit mantissa, about 1e-3 relative), hence the tolerance.
TEST(Cuda, OneCnnStepOnTheGpuMatchesTheCpu) {
  if (cohort::visible_gpus() < 1) GTEST_SKIP() << "no GPU visible: the CUDA path is not run here";
  cohort::ModelSpec spec;
  spec.name = "cnn";
  torch::manual_seed(0);
  auto cpu = cohort::build_model(spec);
  torch::manual_seed(0);
  auto gpu = cohort::build_model(spec);
  const auto placement = choose_placement("cuda", "fp32", true, cohort::visible_gpus(), 0);
  gpu->to(placement.device);
  cohort::Batch batch{torch::randn({16, 1, 28, 28}), torch::randint(10, {16}, torch::kLong)};
  const auto placed = cohort::place_batch(batch, placement);
  ASSERT_TRUE(placed.inputs.is_cuda());
  for (auto* net : {&cpu, &gpu}) {
    torch::optim::SGD sgd((*net)->parameters(), torch::optim::SGDOptions(0.1));
    const auto& b = net == &cpu ? batch : placed;
    torch::nn::functional::cross_entropy((*net)->forward(b.inputs), b.targets).backward();
    sgd.step();
  }
  const auto pc = cpu->parameters(), pg = gpu->parameters();
  for (size_t i = 0; i < pc.size(); ++i)
    EXPECT_TRUE(torch::allclose(pc[i], pg[i].cpu(), 1e-3, 1e-4)) << "parameter " << i;
}

}  // namespace
