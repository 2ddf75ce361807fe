// Mutual learning and codistillation losses against the formula written out by hand.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "cohort/error.h"
#include "cohort/mutual_loss.h"
#include "cohort/stale_peers.h"
#include "unit/cooperate_models.h"

namespace cohort {
namespace {

// CE + alpha T^2 (1/P) sum_p (1/B) sum_{b,c} p_pc (log p_pc - log q_c), from
// exp/log/sum only (no log_softmax, kl_div or cross_entropy), in float64.
at::Tensor reference_loss(const at::Tensor& z, const at::Tensor& y,
                          const std::vector<at::Tensor>& peers, double alpha, double t) {
  auto log_softmax = [](const at::Tensor& a) {
    const at::Tensor shifted = a - std::get<0>(a.max(1, true));
    return shifted - shifted.exp().sum(1, true).log();
  };
  const int64_t batch = z.size(0);
  const at::Tensor ce = -log_softmax(z).gather(1, y.unsqueeze(1)).sum() / batch;
  const at::Tensor log_q = log_softmax(z / t);
  at::Tensor kl = torch::zeros({}, z.options());
  for (const at::Tensor& peer : peers) {
    const at::Tensor log_p = log_softmax(peer / t);
    kl = kl + (log_p.exp() * (log_p - log_q)).sum() / batch;
  }
  return ce + alpha * t * t * kl / static_cast<double>(peers.size());
}

class MutualLossFormula : public ::testing::TestWithParam<std::tuple<double, int>> {};

TEST_P(MutualLossFormula, ValueAndGradientMatchHandWrittenReference) {
  const auto [temperature, num_peers] = GetParam();
  torch::manual_seed(7);
  const int64_t batch = 6, classes = 5;
  const double alpha = 0.7;
  const at::Tensor z0 = 2 * torch::randn({batch, classes}, torch::kFloat64);
  const at::Tensor y = torch::randint(classes, {batch}, torch::kInt64);
  std::vector<at::Tensor> peers;
  for (int p = 0; p < num_peers; ++p)
    peers.push_back((3 * torch::randn({batch, classes}, torch::kFloat64)).requires_grad_());

  const at::Tensor z = z0.clone().requires_grad_();
  const MutualLoss loss = mutual_loss(z, y, peers, {alpha, temperature});
  loss.total.backward();

  const at::Tensor z_ref = z0.clone().requires_grad_();
  std::vector<at::Tensor> peers_ref;
  for (const auto& p : peers) peers_ref.push_back(p.detach());
  const at::Tensor ref = reference_loss(z_ref, y, peers_ref, alpha, temperature);
  ref.backward();

  // float64 throughout: the two computations differ only by rounding order.
  EXPECT_NEAR(loss.total.item<double>(), ref.item<double>(), 1e-12);
  EXPECT_GT(loss.distillation.item<double>(), 0.0);
  EXPECT_TRUE(torch::allclose(z.grad(), z_ref.grad(), 1e-12, 1e-12));
  for (const auto& p : peers) EXPECT_FALSE(p.grad().defined()) << "gradient leaked into a peer";
}

INSTANTIATE_TEST_SUITE_P(TemperatureAndPeers, MutualLossFormula,
                         ::testing::Combine(::testing::Values(1.0, 3.0), ::testing::Values(1, 3)));

TEST(MutualLoss, GradientOfDistillationTermAtTOneIsSoftmaxDifference) {
  // d/dz KL(p || softmax(z)) = (softmax(z) - p) / B: a closed form independent of the
  // reference above, pinning the sign and the batchmean scaling.
  torch::manual_seed(3);
  const at::Tensor z = torch::randn({4, 3}, torch::kFloat64).requires_grad_();
  const at::Tensor peer = torch::randn({4, 3}, torch::kFloat64);
  const at::Tensor y = torch::tensor({0, 1, 2, 0}, torch::kInt64);
  mutual_loss(z, y, {peer}, {1.0, 1.0}).distillation.backward();
  const at::Tensor expected = (torch::softmax(z.detach(), 1) - torch::softmax(peer, 1)) / 4;
  EXPECT_TRUE(torch::allclose(z.grad(), expected, 1e-12, 1e-12));
}

TEST(MutualLoss, NoPeersIsCrossEntropyAndIdenticalPeerAddsNothing) {
  const at::Tensor z = torch::randn({5, 4}, torch::kFloat64);
  const at::Tensor y = torch::randint(4, {5}, torch::kInt64);
  const double ce = torch::nn::functional::cross_entropy(z, y).item<double>();
  EXPECT_DOUBLE_EQ(mutual_loss(z, y, {}).total.item<double>(), ce);
  EXPECT_NEAR(mutual_loss(z, y, {z}, {2.0, 3.0}).total.item<double>(), ce, 1e-12);
}

TEST(MutualLoss, EachNetworkOfACohortGetsOnlyItsOwnGradient) {
  torch::manual_seed(11);
  const at::Tensor y = torch::randint(3, {4}, torch::kInt64);
  std::vector<at::Tensor> logits;
  for (int k = 0; k < 3; ++k) logits.push_back(torch::randn({4, 3}, torch::kFloat64).requires_grad_());
  const auto losses = mutual_losses(logits, y, {0.5, 2.0});
  ASSERT_EQ(losses.size(), 3u);
  (losses[0].total + losses[1].total + losses[2].total).backward();
  for (int k = 0; k < 3; ++k) {
    const at::Tensor alone = logits[k].detach().clone().requires_grad_();
    std::vector<at::Tensor> peers;
    for (int p = 0; p < 3; ++p)
      if (p != k) peers.push_back(logits[p].detach());
    mutual_loss(alone, y, peers, {0.5, 2.0}).total.backward();
    EXPECT_TRUE(torch::allclose(logits[k].grad(), alone.grad(), 1e-12, 1e-12)) << "network " << k;
  }
}

TEST(MutualLoss, RejectsMismatchedShapesAndBadOptions) {
  const at::Tensor z = torch::randn({4, 3});
  const at::Tensor y = torch::zeros({4}, torch::kInt64);
  EXPECT_THROW(mutual_loss(z, y, {torch::randn({4, 5})}), InputError);
  EXPECT_THROW(mutual_loss(z, torch::zeros({3}, torch::kInt64), {}), InputError);
  EXPECT_THROW(mutual_loss(z, y, {z}, {1.0, 0.0}), InputError);
}

TEST(StalePeerCache, PredictsWithTheWeightsOfTheLastRefreshOnly) {
  auto peer = testing::small_mlp(1);
  StalePeerCache cache(testing::small_mlp(2), 1, 10);
  EXPECT_TRUE(cache.refresh_due(0));
  EXPECT_FALSE(cache.refresh_due(7));
  EXPECT_TRUE(cache.refresh_due(20));
  const at::Tensor x = torch::randn({5, 1, 8, 8});
  EXPECT_THROW(cache.logits(x), Error);

  cache.refresh(0, pack_state(*peer), 0);
  EXPECT_EQ(cache.refreshed_at(0), 0);
  const at::Tensor at_refresh = peer->forward(x).detach();
  EXPECT_TRUE(torch::equal(cache.logits(x)[0], at_refresh));

  // The live peer moves on; the cached copy must not follow until the next refresh
  // (a deep clone, not shared storage).
  {
    torch::NoGradGuard no_grad;
    for (auto& p : peer->parameters()) p.add_(0.5);
  }
  EXPECT_TRUE(torch::equal(cache.logits(x)[0], at_refresh));
  EXPECT_FALSE(cache.logits(x)[0].requires_grad());

  cache.refresh(0, pack_state(*peer), 10);
  EXPECT_TRUE(torch::equal(cache.logits(x)[0], peer->forward(x).detach()));
}

TEST(StalePeerCache, PackedStateRoundTripsAndRejectsWrongArchitecture) {
  auto a = testing::small_cnn(1);
  auto b = testing::small_cnn(2);
  unpack_state(pack_state(*a), *b);
  const auto pa = a->parameters(), pb = b->parameters();
  for (size_t i = 0; i < pa.size(); ++i) EXPECT_TRUE(torch::equal(pa[i], pb[i]));
  EXPECT_THROW(unpack_state(pack_state(*testing::small_mlp(1)), *b), InputError);
  EXPECT_THROW(StalePeerCache(a, 0, 1), InputError);
  EXPECT_THROW(StalePeerCache(a, 1, 0), InputError);
}

}  // namespace
}  // namespace cohort
