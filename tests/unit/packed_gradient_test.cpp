#include "parallel/zero/packed_gradient.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

namespace cohort {
namespace {

at::Tensor parameter_with_gradient(at::Tensor grad) {
  at::Tensor p = torch::zeros(grad.sizes()).requires_grad_();
  p.mutable_grad() = std::move(grad);
  return p;
}

FlatShardUnit unit_of(const std::vector<at::Tensor>& parameters, int world) {
  std::vector<int64_t> numels;
  for (const auto& p : parameters) numels.push_back(p.numel());
  return plan_flat_shards(numels, world, /*cap=*/1 << 30).units.at(0);
}

TEST(PackedGradient, AGradientThatFillsItsUnitIsSentWithoutACopy) {
  const at::Tensor p = parameter_with_gradient(torch::arange(12.0).reshape({3, 4}));
  const void* storage = p.grad().data_ptr();
  const at::Tensor packed =
      zero::take_packed_gradient(unit_of({p}, 2), {p}, torch::TensorOptions(torch::kFloat));
  EXPECT_EQ(packed.data_ptr(), storage);
  EXPECT_TRUE(torch::equal(packed, torch::arange(12.0)));
  EXPECT_FALSE(p.grad().defined());
}

TEST(PackedGradient, PaddingOrALayoutOtherThanTheBuffersIsCopied) {
  // 5 elements over 2 ranks: padded to 6, the last a zero.
  const at::Tensor padded = parameter_with_gradient(torch::arange(5.0));
  const void* storage = padded.grad().data_ptr();
  at::Tensor packed = zero::take_packed_gradient(unit_of({padded}, 2), {padded},
                                                 torch::TensorOptions(torch::kFloat));
  EXPECT_NE(packed.data_ptr(), storage);
  EXPECT_TRUE(torch::equal(packed, torch::tensor(std::vector<float>{0, 1, 2, 3, 4, 0})));
  EXPECT_FALSE(padded.grad().defined());

  // A transposed gradient: copied in the parameter's element order.
  const at::Tensor transposed = parameter_with_gradient(torch::arange(6.0).reshape({3, 2}).t());
  packed = zero::take_packed_gradient(unit_of({transposed}, 2), {transposed},
                                      torch::TensorOptions(torch::kFloat));
  EXPECT_TRUE(torch::equal(packed, torch::tensor(std::vector<float>{0, 2, 4, 1, 3, 5})));

  // Another dtype than the chunks': converted.
  const at::Tensor wide = parameter_with_gradient(torch::ones({4}, torch::kDouble));
  packed =
      zero::take_packed_gradient(unit_of({wide}, 2), {wide}, torch::TensorOptions(torch::kFloat));
  EXPECT_EQ(packed.scalar_type(), torch::kFloat);
}

TEST(PackedGradient, SeveralParametersGoEndToEndAndAMissingGradientIsZeros) {
  const at::Tensor a = parameter_with_gradient(torch::full({2, 2}, 1.0));
  const at::Tensor b = torch::zeros({3}).requires_grad_();  // unused by the loss: no .grad
  const at::Tensor c = parameter_with_gradient(torch::full({1}, 3.0));
  const at::Tensor packed = zero::take_packed_gradient(unit_of({a, b, c}, 3), {a, b, c},
                                                       torch::TensorOptions(torch::kFloat));
  EXPECT_TRUE(torch::equal(packed, torch::tensor(std::vector<float>{1, 1, 1, 1, 0, 0, 0, 3, 0})));
  EXPECT_FALSE(a.grad().defined());
  EXPECT_FALSE(c.grad().defined());
}

}  // namespace
}  // namespace cohort
