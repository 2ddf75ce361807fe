// The rank side of the tensor-parallel tests (tensor_parallel_test.cpp starts
// the ranks). Every rank builds the whole model from one seed, trains it alone
// as the reference, and trains the tensor-parallel model built from the same
// weights on the same batches; the two must agree.
//
// Tolerance: a row-parallel layer sums T partial products where the reference
// sums one, and the vocabulary-split cross-entropy sums its normaliser in
// pieces: a few ulps of float32 per step (about 1e-7 relative). Over 6 steps at
// lr 0.05 on weights below 1 this stays under 1e-6; 2e-5 leaves headroom and
// still catches a real error (a missing allreduce in backward, a slice off by
// one rank, a gradient not divided by N: 1e-3 and more).
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdlib>
#include <string>

#include "cohort/error.h"
#include "cohort/models.h"
#include "cohort/rendezvous.h"
#include "cohort/tensor_parallel.h"
#include "dist/rank_checks.h"

namespace cohort {
// Named, not anonymous: a unity build compiles this file together with others.
namespace tensor_parallel_worker {

constexpr int64_t kIn = 12, kHidden = 24, kClasses = 8, kBatch = 16, kSteps = 6;
constexpr double kLr = 0.05, kTolerance = 2e-5;

using test::TeacherData;

torch::nn::Sequential whole_mlp() {
  torch::manual_seed(3);
  return torch::nn::Sequential(torch::nn::Linear(kIn, kHidden), torch::nn::Tanh(),
                               torch::nn::Linear(kHidden, kHidden), torch::nn::Tanh(),
                               torch::nn::Linear(kHidden, kClasses));
}

enum class Optim { SgdMomentum, AdamW };

std::unique_ptr<torch::optim::Optimizer> optimizer(Optim kind, std::vector<at::Tensor> ps) {
  if (kind == Optim::SgdMomentum)
    return std::make_unique<torch::optim::SGD>(
        ps, torch::optim::SGDOptions(kLr).momentum(0.9).weight_decay(1e-3));
  return std::make_unique<torch::optim::AdamW>(ps,
                                               torch::optim::AdamWOptions(kLr).weight_decay(0.01));
}

// Megatron's mlp: column, activation on each rank's slice, row; the last layer
// column-parallel with its logits left split for the vocabulary-split loss.
struct TensorParallelMlp {
  tp::ColumnParallelLinear first;
  tp::RowParallelLinear second;
  tp::ColumnParallelLinear last;
  TensorParallelMlp(const CommunicatorPtr& group, torch::nn::Sequential& whole)
      : first(kIn, kHidden, group),
        second(kHidden, kHidden, group),
        last(kHidden, kClasses, group) {
    auto linear = [&](size_t i) { return whole[i]->as<torch::nn::Linear>(); };
    first->load_whole(linear(0)->weight, linear(0)->bias);
    second->load_whole(linear(2)->weight, linear(2)->bias);
    last->load_whole(linear(4)->weight, linear(4)->bias);
  }
  at::Tensor forward(const at::Tensor& x) {
    return last->forward(at::tanh(second->forward(at::tanh(first->forward(x)))));
  }
  std::vector<at::Tensor> parameters() const {
    std::vector<at::Tensor> ps;
    for (const auto& m : {first->parameters(), second->parameters(), last->parameters()})
      ps.insert(ps.end(), m.begin(), m.end());
    return ps;
  }
};

double worst_difference(const std::pair<at::Tensor, at::Tensor>& got,
                        const torch::nn::LinearImpl& want) {
  return std::max((got.first - want.weight).abs().max().item<double>(),
                  (got.second - want.bias).abs().max().item<double>());
}

// Six steps of the tensor-parallel mlp against the whole one, each loss and
// every gathered weight.
void scenario_mlp(const CommunicatorPtr& group, Optim kind) {
  const TeacherData data = test::teacher_data(kSteps * kBatch, kIn, kClasses, 11);
  auto reference = whole_mlp();
  auto whole_optimizer = optimizer(kind, reference->parameters());
  auto source = whole_mlp();
  TensorParallelMlp parallel(group, source);
  auto parallel_optimizer = optimizer(kind, parallel.parameters());
  for (int64_t step = 0; step < kSteps; ++step) {
    const at::Tensor x = data.x.narrow(0, step * kBatch, kBatch);
    const at::Tensor y = data.y.narrow(0, step * kBatch, kBatch);
    whole_optimizer->zero_grad();
    const at::Tensor want = torch::nn::functional::cross_entropy(reference->forward(x), y);
    want.backward();
    whole_optimizer->step();
    parallel_optimizer->zero_grad();
    const at::Tensor got = tp::vocab_parallel_cross_entropy(parallel.forward(x), y, *group);
    got.backward();
    parallel_optimizer->step();
    EXPECT_NEAR(got.item<double>(), want.item<double>(), kTolerance) << "loss at step " << step;
  }
  auto linear = [&](size_t i) { return reference[i]->as<torch::nn::Linear>(); };
  const double worst = std::max({worst_difference(parallel.first->gather_whole(), *linear(0)),
                                 worst_difference(parallel.second->gather_whole(), *linear(2)),
                                 worst_difference(parallel.last->gather_whole(), *linear(4))});
  std::printf("mlp %s T=%d: max |tensor parallel - whole| = %.3g\n",
              kind == Optim::AdamW ? "adamw" : "sgd-momentum", group->size(), worst);
  EXPECT_LT(worst, kTolerance);
}

// A convolution split by output channel, gathered, then replicated layers;
// and a row-parallel layer that splits its own input: every gradient the whole
// model has, on its slice.
void scenario_split_input_and_conv(const CommunicatorPtr& group) {
  torch::manual_seed(5);
  torch::nn::Conv2d conv(torch::nn::Conv2dOptions(3, 8, 3).padding(1));
  torch::nn::Linear row(8 * 6 * 6, 4);
  tp::SplitOutputConv2d split_conv(3, 8, 3, 1, group);
  tp::RowParallelLinear split_row(8 * 6 * 6, 4, group, true, /*input_is_parallel=*/false);
  split_conv->load_whole(conv->weight, conv->bias);
  split_row->load_whole(row->weight, row->bias);
  torch::manual_seed(9);
  const at::Tensor x = at::randn({5, 3, 6, 6}).requires_grad_();
  const at::Tensor x_parallel = x.detach().clone().requires_grad_();
  const at::Tensor y = at::randint(0, 4, {5});
  torch::nn::functional::cross_entropy(row->forward(at::relu(conv->forward(x)).flatten(1)), y)
      .backward();
  torch::nn::functional::cross_entropy(
      split_row->forward(at::relu(split_conv->forward(x_parallel)).flatten(1)), y)
      .backward();
  const tp::Share channels = tp::share_of(8, group->size(), group->rank(), "channels");
  const tp::Share features = tp::share_of(8 * 6 * 6, group->size(), group->rank(), "features");
  const double worst = std::max(
      {(split_conv->weight.grad() - conv->weight.grad().narrow(0, channels.begin, channels.size))
           .abs()
           .max()
           .item<double>(),
       (split_row->weight.grad() - row->weight.grad().narrow(1, features.begin, features.size))
           .abs()
           .max()
           .item<double>(),
       (split_row->bias.grad() - row->bias.grad()).abs().max().item<double>(),
       (x_parallel.grad() - x.grad()).abs().max().item<double>()});
  std::printf("conv + split row T=%d: max |gradient difference| = %.3g\n", group->size(), worst);
  EXPECT_LT(worst, kTolerance);
}

// The zoo's mlp, cnn and resnet in their tensor-parallel forms (parallel_form),
// trained 3 steps with SGD-momentum beside the whole models from the same
// weights: every loss, every weight and buffer once gathered back
// (gather_into), and the evaluation after. Batch norm divides by a batch's
// standard deviation, which keeps relative errors relative: the same tolerance.
void scenario_zoo(const CommunicatorPtr& group, const std::string& model) {
  ModelSpec spec;
  spec.name = model;
  spec.widths = {64, 32};
  spec.channels = 4;
  torch::manual_seed(4);
  auto reference = build_model(spec);
  torch::manual_seed(4);
  auto whole = build_model(spec);
  auto parallel = tp::parallel_form(whole, group);
  auto whole_optimizer = optimizer(Optim::SgdMomentum, reference->parameters());
  auto parallel_optimizer = optimizer(Optim::SgdMomentum, parallel->parameters());
  auto gen = at::detail::createCPUGenerator(13);
  const at::Tensor x = at::randn({3 * 8, 1, 28, 28}, gen);
  const at::Tensor y = at::randint(0, 10, {3 * 8}, gen);
  for (int64_t step = 0; step < 3; ++step) {
    const at::Tensor xs = x.narrow(0, step * 8, 8), ys = y.narrow(0, step * 8, 8);
    whole_optimizer->zero_grad();
    const at::Tensor want = torch::nn::functional::cross_entropy(reference->forward(xs), ys);
    want.backward();
    whole_optimizer->step();
    parallel_optimizer->zero_grad();
    const at::Tensor got = torch::nn::functional::cross_entropy(parallel->forward(xs), ys);
    got.backward();
    parallel_optimizer->step();
    EXPECT_NEAR(got.item<double>(), want.item<double>(), kTolerance) << model << " step " << step;
  }
  tp::gather_into(parallel, whole);
  const double worst = test::max_difference(*whole, *reference);
  std::printf("zoo %s T=%d: max |parallel form - whole| = %.3g\n", model.c_str(), group->size(),
              worst);
  EXPECT_LT(worst, kTolerance);
  // Batch norm's running statistics too (the resnet's), gathered from the
  // ranks' channels or replicated, and the evaluation they give.
  const auto got_buffers = whole->buffers(), want_buffers = reference->buffers();
  ASSERT_EQ(got_buffers.size(), want_buffers.size());
  double buffers = 0;
  for (size_t b = 0; b < got_buffers.size(); ++b)
    buffers = std::max(buffers, (got_buffers[b].to(at::kDouble) - want_buffers[b].to(at::kDouble))
                                    .abs()
                                    .max()
                                    .item<double>());
  EXPECT_LT(buffers, kTolerance) << model;
  parallel->eval();
  reference->eval();
  const double evaluated =
      (parallel->forward(x.narrow(0, 0, 8)) - reference->forward(x.narrow(0, 0, 8)))
          .abs()
          .max()
          .item<double>();
  std::printf("zoo %s T=%d: %zu buffers within %.3g, evaluation within %.3g\n", model.c_str(),
              group->size(), got_buffers.size(), buffers, evaluated);
  EXPECT_LT(evaluated, kTolerance) << model;
}

// What parallel_form cannot split is refused naming the layer.
void scenario_refusals(const CommunicatorPtr& group) {
  ModelSpec spec;
  spec.name = "resnet";
  spec.channels = 3;  // the stem's 3 channels among 2 or 4 ranks
  try {
    tp::parallel_form(build_model(spec), group);
    ADD_FAILURE() << "the resnet's 3 channels were split among " << group->size() << " ranks";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("layer 0"), std::string::npos) << e.what();
  }
  spec.name = "mlp";
  spec.widths = {6};  // 6 features among 4 ranks
  if (group->size() == 4) EXPECT_THROW(tp::parallel_form(build_model(spec), group), InputError);
}

TEST(TensorParallelWorker, Run) {
  const char* scenario = std::getenv("COHORT_DDP_SCENARIO");
  if (scenario == nullptr) GTEST_SKIP() << "rank entry of the tensor-parallel tests";
  torch::set_num_threads(1);
  CommunicatorPtr comm = init_world(world_info_from_environment(), std::chrono::seconds(60));
  scenario_mlp(comm, Optim::SgdMomentum);
  scenario_mlp(comm, Optim::AdamW);
  scenario_split_input_and_conv(comm);
  scenario_zoo(comm, "mlp");
  scenario_zoo(comm, "cnn");
  scenario_zoo(comm, "resnet");
  scenario_refusals(comm);
}

}  // namespace tensor_parallel_worker
}  // namespace cohort
