// The rank side of the DDP tests (ddp_test.cpp starts the ranks). Each rank
// trains with DistributedDataParallel and also computes the single-process
// reference alone, then compares: a rank that disagrees fails its own gtest
// run and the parent sees a non-zero exit.
//
// Tolerance of the exact comparisons: the reference sums N*B per-sample
// gradients in one reduction, DDP sums B per rank, divides by N and adds the N
// partial means; the float32 results differ by a few ulps of the gradient
// (about 1e-7 relative). Over kSteps SGD steps (lr 0.1, momentum 0.9) on
// weights of magnitude below 1 this stays under 1e-6; 2e-5 leaves headroom
// without hiding a real error (a missing 1/N or a dropped bucket moves weights
// by 1e-2 or more).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdlib>
#include <string>

#include "cohort/ddp.h"
#include "cohort/error.h"
#include "cohort/rendezvous.h"
#include "dist/rank_checks.h"

namespace cohort {
namespace {

constexpr int64_t kIn = 12, kHidden = 16, kOut = 4, kBatch = 8, kSteps = 5;
constexpr double kLr = 0.1, kMomentum = 0.9, kExactTolerance = 2e-5;

using Data = test::TeacherData;
using test::expect_same_on_all_ranks;
using test::max_difference;
Data make_data(int64_t rows) { return test::teacher_data(rows, kIn, kOut, 99); }

// trunk -> (side, used on some steps only) -> head. `side` is registered in
// the middle so that with one bucket per parameter its bucket must wait.
struct BranchNetImpl : torch::nn::Module {
  explicit BranchNetImpl(int64_t hidden = kHidden)
      : trunk(register_module("trunk", torch::nn::Linear(kIn, hidden))),
        side(register_module("side", torch::nn::Linear(hidden, hidden))),
        hidden2(register_module("hidden2", torch::nn::Linear(hidden, kHidden))),
        head(register_module("head", torch::nn::Linear(kHidden, kOut))) {}
  at::Tensor forward(const at::Tensor& x, bool use_side) {
    at::Tensor h = torch::tanh(trunk(x));
    if (use_side) h = h + torch::tanh(side(h));
    return head(torch::tanh(hidden2(h)));
  }
  torch::nn::Linear trunk, side, hidden2, head;
};
TORCH_MODULE(BranchNet);

BranchNet make_net(uint64_t seed, int64_t hidden = kHidden) {
  torch::manual_seed(seed);
  return BranchNet(hidden);
}

torch::optim::SGD make_sgd(torch::nn::Module& m) {
  return torch::optim::SGD(m.parameters(), torch::optim::SGDOptions(kLr).momentum(kMomentum));
}

at::Tensor loss_of(BranchNet& net, const at::Tensor& x, const at::Tensor& y, bool side) {
  return torch::nn::functional::cross_entropy(net->forward(x, side), y);
}

// Which ranks use the side branch: on step 0 only rank 0, on step 1 none
// (N <= 3: (1 + r) % 3 == 0 needs r == 2), later steps vary.
bool uses_side(int64_t step, int rank, bool unused_mode) {
  return !unused_mode || (step + rank) % 3 == 0;
}

struct Config {
  int64_t cap = kDefaultBucketCapBytes;
  int64_t micro = 1;  // micro-steps per step; all but the last under no_sync
  bool unused = false;
  CommHookPtr hook;
  int64_t steps = kSteps;
};

// One process, one optimiser, the whole batch of every rank: the computation
// DDP must reproduce. With unused parameters, the loss is the mean of the
// ranks' losses and gradients a rank would not have are zero, as in DDP.
BranchNet train_reference(const Config& c, int world, const Data& data) {
  BranchNet net = make_net(1);
  auto sgd = make_sgd(*net);
  const int64_t rows = world * kBatch * c.micro;
  for (int64_t s = 0; s < c.steps; ++s) {
    sgd.zero_grad();
    if (!c.unused) {
      loss_of(net, data.x.narrow(0, s * rows, rows), data.y.narrow(0, s * rows, rows), true)
          .backward();
    } else {
      at::Tensor total = at::zeros({});
      for (int r = 0; r < world; ++r) {
        const int64_t base = s * rows + r * kBatch;
        total = total + loss_of(net, data.x.narrow(0, base, kBatch),
                                data.y.narrow(0, base, kBatch), uses_side(s, r, true));
      }
      (total / world).backward();
      for (auto& p : net->parameters()) {
        if (!p.grad().defined()) p.mutable_grad() = at::zeros_like(p);
      }
    }
    sgd.step();
  }
  return net;
}

BranchNet train_ddp(const Config& c, const CommunicatorPtr& comm, const Data& data,
                    StepTimeline* timeline = nullptr, BucketPlan* plan = nullptr) {
  const int world = comm->size(), rank = comm->rank();
  // A different initialisation on every rank: DDP must copy rank 0's.
  BranchNet net = make_net(1 + rank);
  DdpOptions options;
  options.bucket_cap_bytes = c.cap;
  options.find_unused_parameters = c.unused;
  options.comm_hook = c.hook;
  DistributedDataParallel ddp(net.ptr(), comm, options);
  auto sgd = make_sgd(*net);
  const int64_t rows = world * kBatch * c.micro;
  for (int64_t s = 0; s < c.steps; ++s) {
    sgd.zero_grad();
    for (int64_t m = 0; m < c.micro; ++m) {
      const int64_t base = s * rows + (m * world + rank) * kBatch;
      at::Tensor loss = loss_of(net, data.x.narrow(0, base, kBatch),
                                data.y.narrow(0, base, kBatch), uses_side(s, rank, c.unused)) /
                        c.micro;
      if (m + 1 < c.micro) {
        auto scope = ddp.no_sync();
        loss.backward();
        ddp.synchronize();  // a no-op inside no_sync
      } else {
        loss.backward();
      }
    }
    ddp.synchronize();
    sgd.step();
  }
  if (timeline) *timeline = ddp.last_timeline();
  if (plan) *plan = ddp.bucket_plan();
  return net;
}

void check_exact(const CommunicatorPtr& comm, const Config& c, const char* what) {
  const Data data = make_data(c.steps * comm->size() * kBatch * c.micro);
  StepTimeline timeline;
  BucketPlan plan;
  BranchNet ddp_net = train_ddp(c, comm, data, &timeline, &plan);
  BranchNet ref = train_reference(c, comm->size(), data);
  const double diff = max_difference(*ddp_net, *ref);
  std::printf("%s: max |ddp - reference| = %.3g over %zu buckets\n", what, diff,
              plan.buckets.size());
  EXPECT_LE(diff, kExactTolerance) << what;
  expect_same_on_all_ranks(*comm, *ddp_net);
  ASSERT_EQ(timeline.buckets.size(), plan.buckets.size());
  for (const auto& b : timeline.buckets) {
    EXPECT_LE(timeline.backward_start, b.ready);
    EXPECT_LE(b.ready, b.launched);
    EXPECT_LE(b.launched, b.done);
  }
}

void scenario_exact(const CommunicatorPtr& comm) {
  Config tiny;
  tiny.cap = 16;  // smaller than any parameter: one bucket each
  check_exact(comm, Config{}, "default cap");
  check_exact(comm, tiny, "16-byte cap");
  Config accumulate;
  accumulate.micro = 3;
  check_exact(comm, accumulate, "no_sync x2 + synced, default cap");
  tiny.micro = 3;
  check_exact(comm, tiny, "no_sync x2 + synced, 16-byte cap");
}

void scenario_unused(const CommunicatorPtr& comm) {
  Config c;
  c.unused = true;
  check_exact(comm, c, "unused branch, default cap");
  c.cap = 16;
  check_exact(comm, c, "unused branch, 16-byte cap");

  // Without the option, a parameter no rank used is an error that names it.
  BranchNet net = make_net(1);
  DistributedDataParallel ddp(net.ptr(), comm);
  const Data data = make_data(kBatch);
  loss_of(net, data.x, data.y, /*side=*/false).backward();
  try {
    ddp.synchronize();
    ADD_FAILURE() << "synchronize() accepted a step without side's gradients";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("'side.weight'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("find_unused_parameters"), std::string::npos);
  }
}

void scenario_mismatch(const CommunicatorPtr& comm) {
  BranchNet net = make_net(1, comm->rank() == 1 ? kHidden + 1 : kHidden);
  try {
    DistributedDataParallel ddp(net.ptr(), comm);
    ADD_FAILURE() << "models of different shapes were accepted";
  } catch (const InputError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("rank 1 has a different model"), std::string::npos) << what;
    EXPECT_NE(what.find("'trunk.weight' [17, 12]"), std::string::npos) << what;
  }
}

// Compressed hooks: within a loose bound of the exact run (float16 keeps 11
// significant bits, bfloat16 8: relative gradient error about 5e-4 and 4e-3,
// over 5 steps well under the bounds below), and still identical on all ranks.
void scenario_hooks(const CommunicatorPtr& comm) {
  const Data data = make_data(kSteps * comm->size() * kBatch);
  Config exact;
  BranchNet ref = train_reference(exact, comm->size(), data);
  for (auto [type, bound] : {std::pair{at::kHalf, 2e-3}, std::pair{at::kBFloat16, 2e-2}}) {
    Config c;
    c.hook = std::make_shared<CompressionHook>(type);
    BranchNet net = train_ddp(c, comm, data);
    const double diff = max_difference(*net, *ref);
    std::printf("%s: max |ddp - exact| = %.3g\n", c.hook->name().c_str(), diff);
    EXPECT_LE(diff, bound) << c.hook->name();
    EXPECT_GT(diff, 0.0) << c.hook->name() << " changed nothing: was it used?";
    expect_same_on_all_ranks(*comm, *net);
  }

  // PowerSGD: rank 2 factors of 16x12 and 16x16 matrices; must still learn.
  Config c;
  c.hook = std::make_shared<PowerSgdHook>(PowerSgdOptions{});
  c.steps = 60;
  const Data train = make_data(c.steps * comm->size() * kBatch);
  BranchNet initial = make_net(1);
  const double before = loss_of(initial, train.x, train.y, true).item<double>();
  BranchNet net = train_ddp(c, comm, train);
  const double after = loss_of(net, train.x, train.y, true).item<double>();
  std::printf("powersgd: loss %.4f -> %.4f\n", before, after);
  EXPECT_LT(after, 0.7 * before);
  expect_same_on_all_ranks(*comm, *net);
}

}  // namespace

// Runs only when ddp_test.cpp starts this binary as a rank.
TEST(DdpWorker, Run) {
  const char* scenario = std::getenv("COHORT_DDP_SCENARIO");
  if (scenario == nullptr) GTEST_SKIP() << "rank entry of the DDP tests";
  torch::set_num_threads(1);
  CommunicatorPtr comm = init_world(world_info_from_environment(), std::chrono::seconds(60));
  const std::string name = scenario;
  if (name == "exact") {
    scenario_exact(comm);
  } else if (name == "unused") {
    scenario_unused(comm);
  } else if (name == "mismatch") {
    scenario_mismatch(comm);
  } else if (name == "hooks") {
    scenario_hooks(comm);
  } else {
    FAIL() << "unknown scenario " << name;
  }
  comm->barrier();
}

}  // namespace cohort
