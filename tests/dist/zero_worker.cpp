// The rank side of the sharded data-parallel tests (zero_test.cpp starts the
// ranks). Each rank trains with ShardedDataParallel on its slice of every
// batch, then computes alone the one-process run on the union of the slices
// and compares; a rank that disagrees fails its own gtest run.
//
// Tolerance: as in ddp_worker.cpp, the reference sums N*B per-sample gradients
// in one reduction where the ranks sum B each and average N partial means, a
// few ulps of float32 per gradient (about 1e-7 relative); the clipping norm is
// summed in another order too (chunks, then ranks). AdamW divides by the root
// of the second moment, which keeps a relative error relative. Over 6 steps
// at lr 0.05 on weights below 1 this stays under 1e-6; 2e-5 leaves headroom
// and still catches a real error (a missing 1/N, a chunk not gathered, a
// rank's clipping on its own norm: 1e-3 and more).
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdlib>
#include <optional>
#include <string>

#include "cohort/ddp.h"
#include "cohort/ddp/comm_hook.h"
#include "cohort/error.h"
#include "cohort/rendezvous.h"
#include "cohort/zero.h"
#include "dist/rank_checks.h"

namespace cohort {
// Named, not anonymous: a unity build compiles this file together with others.
namespace zero_worker {

constexpr int64_t kIn = 12, kHidden = 24, kOut = 3, kBatch = 8, kSteps = 6;
// The first steps' gradient norms are 0.42 to 0.51: clipping at 0.3 acts.
constexpr double kLr = 0.05, kMaxNorm = 0.3, kTolerance = 2e-5;

using Data = test::TeacherData;
using test::expect_same_on_all_ranks;
using test::max_difference;
Data make_data(int64_t rows) { return test::teacher_data(rows, kIn, kOut, 7); }

// Parameter sizes 288, 24, 576, 24, 72, 3: with a 512-byte (128-element) cap,
// units {288} {24} {576} {24, 72, 3}, the last padded at N = 2 and 4; stage 3
// cuts whole layers: {288, 24} {576, 24} {72, 3}.
torch::nn::Sequential make_net(uint64_t seed) {
  torch::manual_seed(seed);
  return torch::nn::Sequential(torch::nn::Linear(kIn, kHidden), torch::nn::Tanh(),
                               torch::nn::Linear(kHidden, kHidden), torch::nn::Tanh(),
                               torch::nn::Linear(kHidden, kOut));
}

enum class Optim { SgdMomentum, AdamW };

std::unique_ptr<torch::optim::Optimizer> make_optimizer(Optim kind, std::vector<at::Tensor> ps) {
  if (kind == Optim::SgdMomentum)
    return std::make_unique<torch::optim::SGD>(
        ps, torch::optim::SGDOptions(kLr).momentum(0.9).weight_decay(1e-3));
  return std::make_unique<torch::optim::AdamW>(ps,
                                               torch::optim::AdamWOptions(kLr).weight_decay(0.01));
}

struct Case {
  int stage = 1;
  Optim optim = Optim::SgdMomentum;
  int64_t cap_bytes = 25 * 1024 * 1024;
  int64_t micro = 1;     // backward calls per step, gradients adding up
  bool no_sync = false;  // all but the last backward under no_sync()
  std::string name() const {
    return fmt::format("stage {} {} cap {} micro {}{}", stage,
                       optim == Optim::AdamW ? "adamw" : "sgd-momentum", cap_bytes, micro,
                       no_sync ? " no_sync" : "");
  }
};

template <typename Model>
at::Tensor loss_on(Model& net, const Data& d, int64_t begin, int64_t rows) {
  return torch::nn::functional::cross_entropy(net.forward(d.x.narrow(0, begin, rows)),
                                              d.y.narrow(0, begin, rows));
}

// One process, the whole batch of every rank, clip_grad_norm_ on all parameters.
torch::nn::Sequential train_reference(const Case& c, int world, const Data& data,
                                      std::vector<double>* norms) {
  auto net = make_net(1);
  auto optimizer = make_optimizer(c.optim, net->parameters());
  const int64_t rows = world * kBatch;
  for (int64_t s = 0; s < kSteps; ++s) {
    optimizer->zero_grad();
    for (int64_t m = 0; m < c.micro; ++m)
      (loss_on(*net, data, (s * c.micro + m) * rows, rows) / c.micro).backward();
    norms->push_back(torch::nn::utils::clip_grad_norm_(net->parameters(), kMaxNorm));
    optimizer->step();
  }
  return net;
}

struct ShardedRun {
  std::vector<double> norms;
  ShardMemory memory;  // after the last step
  FlatShardPlan plan;
  int64_t most_after_backward = 0;  // stage 3: whole units' bytes after a backward, at most
  int64_t peak_gathered = 0;        // stage 3: whole units' bytes at once, at most
  int64_t whole_gradients_after_backward = 0;  // parameters with a .grad after a step's last
  int64_t whole_gradients_after_quiet = -1;    // and after a backward under no_sync, at least
};

int64_t whole_gradients(torch::nn::Sequential& net) {
  int64_t count = 0;
  for (const auto& p : net->parameters()) count += p.grad().defined() ? 1 : 0;
  return count;
}

// The weights each rank ends with (gathered whole for stage 3), in a net of their own.
torch::nn::Sequential whole_copy(ShardedDataParallel& sharded, torch::nn::Sequential& net) {
  auto whole = sharded.gather_whole();
  auto copy = make_net(0);
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < copy->parameters().size(); ++i)
    copy->parameters()[i].copy_(net->parameters()[i]);
  return copy;
}

// The weights each rank ends with (gathered whole for stage 3).
torch::nn::Sequential train_sharded(const Case& c, const CommunicatorPtr& comm, const Data& data,
                                    ShardedRun* run) {
  const int world = comm->size(), rank = comm->rank();
  auto net = make_net(1 + rank);  // rank 0's weights must reach every rank
  ShardOptions options;
  options.stage = c.stage;
  options.unit_cap_bytes = c.cap_bytes;
  options.max_grad_norm = kMaxNorm;
  ShardedDataParallel sharded(
      net.ptr(), comm,
      [&](std::vector<at::Tensor> chunks) { return make_optimizer(c.optim, chunks); }, options);
  const int64_t rows = world * kBatch;
  for (int64_t s = 0; s < kSteps; ++s) {
    sharded.zero_grad();
    for (int64_t m = 0; m < c.micro; ++m) {
      const bool quiet = c.no_sync && m + 1 < c.micro;
      std::optional<ShardedDataParallel::NoSync> guard;
      if (quiet) guard.emplace(sharded);
      (loss_on(sharded, data, (s * c.micro + m) * rows + rank * kBatch, kBatch) / c.micro)
          .backward();
      guard.reset();
      run->most_after_backward = std::max(run->most_after_backward, sharded.gathered_bytes());
      if (quiet) {
        const int64_t held = whole_gradients(net);
        run->whole_gradients_after_quiet = run->whole_gradients_after_quiet < 0
                                               ? held
                                               : std::min(run->whole_gradients_after_quiet, held);
      } else {
        run->whole_gradients_after_backward =
            std::max(run->whole_gradients_after_backward, whole_gradients(net));
      }
    }
    run->norms.push_back(sharded.step());
  }
  run->memory = sharded.memory();
  run->plan = sharded.plan();
  run->peak_gathered = sharded.peak_gathered_bytes();
  return whole_copy(sharded, net);
}

// What each rank holds: the whole padded model (stage 3: its chunks, also
// right after each backward), its chunks of the optimiser state (SGD: one
// momentum; AdamW: two moments), and the whole gradients (stage 1) or its
// chunks. Stages 2 and 3 reduce every unit during backward: no whole
// gradient is left after it, unless under no_sync(). Stage 3 never holds more than two neighbouring
// units whole at once (the one running and the one prefetched).
void expect_memory(const Case& c, const ShardedRun& run) {
  const FlatShardPlan& plan = run.plan;
  const ShardMemory& m = run.memory;
  const int64_t chunk_bytes = plan.shard_numel() * 4, whole_bytes = plan.padded_numel() * 4;
  EXPECT_EQ(m.parameters, c.stage == 3 ? chunk_bytes : whole_bytes) << c.name();
  EXPECT_EQ(m.gradients, c.stage == 1 ? whole_bytes : chunk_bytes) << c.name();
  EXPECT_EQ(m.optimizer, (c.optim == Optim::AdamW ? 2 : 1) * chunk_bytes) << c.name();
  if (c.stage >= 2) EXPECT_EQ(run.whole_gradients_after_backward, 0) << c.name();
  // Under no_sync the gradients wait whole, every one of them, for one reduction.
  if (c.no_sync) EXPECT_EQ(run.whole_gradients_after_quiet, 6) << c.name();
  if (c.stage != 3) return;
  EXPECT_EQ(run.most_after_backward, 0) << c.name() << ": units left whole after backward";
  int64_t two_units = plan.units[0].padded_numel * 4;
  for (size_t u = 0; u + 1 < plan.units.size(); ++u)
    two_units =
        std::max(two_units, (plan.units[u].padded_numel + plan.units[u + 1].padded_numel) * 4);
  EXPECT_LE(run.peak_gathered, two_units) << c.name();
  EXPECT_GT(run.peak_gathered, 0) << c.name();
  if (plan.units.size() > 2) EXPECT_LT(run.peak_gathered, whole_bytes) << c.name();
}

void scenario_equivalence(const CommunicatorPtr& comm) {
  const int world = comm->size();
  for (int stage : {1, 2, 3}) {
    for (Optim optim : {Optim::SgdMomentum, Optim::AdamW}) {
      for (int64_t cap : {int64_t{25} << 20, int64_t{512}}) {
        for (auto [micro, no_sync] : {std::pair{1, false}, {2, false}, {2, true}}) {
          const Case c{stage, optim, cap, micro, no_sync};
          const Data data = make_data(kSteps * micro * world * kBatch);
          std::vector<double> ref_norms;
          ShardedRun run;
          auto sharded = train_sharded(c, comm, data, &run);
          auto ref = train_reference(c, world, data, &ref_norms);
          const double diff = max_difference(*sharded, *ref);
          const auto& norms = run.norms;
          const auto& plan = run.plan;
          std::printf("%s: max |sharded - one process| = %.3g over %zu units, first norm %.4f\n",
                      c.name().c_str(), diff, plan.units.size(), norms[0]);
          EXPECT_LE(diff, kTolerance) << c.name();
          // Clipping must have acted, or the comparison would not test it.
          EXPECT_GT(ref_norms[0], kMaxNorm) << c.name();
          for (size_t s = 0; s < norms.size(); ++s)
            EXPECT_NEAR(norms[s], ref_norms[s], 1e-5 * ref_norms[s]) << c.name() << " step " << s;
          EXPECT_EQ(plan.units.size(), cap == 512 ? (stage == 3 ? 3u : 4u) : 1u) << c.name();
          expect_same_on_all_ranks(*comm, *sharded);
          expect_memory(c, run);
        }
      }
    }
  }
}

// A comm hook compresses each unit's reduction as DDP's compresses each
// bucket, element by element, so sharded and DDP runs with the same hook
// follow the same compressed trajectory. Not bitwise: fp16 turns the
// float32 reassociation between them (1e-7, the clipping norm) into a
// flipped rounding now and then, 5e-4 relative on that element; at N = 2
// over 6 steps stage 3 stays within 6e-8 of DDP and stages 1 and 2 within
// 2.1e-5, a fifth of the 1e-4 by which compression moves the weights away
// from the exact run: within a quarter of that of DDP's compressed run. At
// N = 4 Gloo's ring adds four fp16 values in an order that depends on the
// element's place in the buffer, and the runs part by as much as compression
// itself (1.5e-4): there the sharded run must stay within twice
// compression's effect of the exact one. Either way at least half of it away
// from the exact run: the hook acted.
torch::nn::Sequential train_ddp(const CommunicatorPtr& comm, const Data& data, CommHookPtr hook) {
  const int world = comm->size(), rank = comm->rank();
  auto net = make_net(1);
  DdpOptions options;
  options.comm_hook = std::move(hook);
  DistributedDataParallel ddp(net.ptr(), comm, options);
  auto optimizer = make_optimizer(Optim::AdamW, net->parameters());
  for (int64_t s = 0; s < kSteps; ++s) {
    optimizer->zero_grad();
    loss_on(*net, data, s * world * kBatch + rank * kBatch, kBatch).backward();
    ddp.synchronize();
    torch::nn::utils::clip_grad_norm_(net->parameters(), kMaxNorm);
    optimizer->step();
  }
  return net;
}

torch::nn::Sequential train_sharded_with_hook(const CommunicatorPtr& comm, const Data& data,
                                              int stage, CommHookPtr hook) {
  const int world = comm->size(), rank = comm->rank();
  auto net = make_net(1);
  ShardOptions options;
  options.stage = stage;
  options.unit_cap_bytes = 512;
  options.max_grad_norm = kMaxNorm;
  ShardedDataParallel sharded(
      net.ptr(), comm,
      [](std::vector<at::Tensor> chunks) { return make_optimizer(Optim::AdamW, chunks); }, options);
  if (hook) sharded.register_comm_hook(std::move(hook));
  for (int64_t s = 0; s < kSteps; ++s) {
    sharded.zero_grad();
    loss_on(sharded, data, s * world * kBatch + rank * kBatch, kBatch).backward();
    sharded.step();
  }
  return whole_copy(sharded, net);
}

void scenario_hooks(const CommunicatorPtr& comm) {
  const Data data = make_data(kSteps * comm->size() * kBatch);
  auto fp16 = [] { return std::make_shared<CompressionHook>(at::kHalf); };
  auto ddp_exact = train_ddp(comm, data, nullptr);
  auto ddp_fp16 = train_ddp(comm, data, fp16());
  const double compression = max_difference(*ddp_fp16, *ddp_exact);
  EXPECT_GT(compression, 1e-6) << "fp16 compression changed nothing: the test tests nothing";
  for (int stage : {1, 2, 3}) {
    auto sharded = train_sharded_with_hook(comm, data, stage, fp16());
    const double to_ddp = max_difference(*sharded, *ddp_fp16);
    std::printf("stage %d fp16: |sharded - DDP fp16| = %.3g, |DDP fp16 - exact| = %.3g\n", stage,
                to_ddp, compression);
    const double to_exact = max_difference(*sharded, *ddp_exact);
    if (comm->size() == 2) {
      EXPECT_LE(to_ddp, 0.25 * compression) << "stage " << stage;
    } else {
      EXPECT_LE(to_exact, 2 * compression) << "stage " << stage;
    }
    EXPECT_GT(to_exact, 0.5 * compression) << "stage " << stage;
    expect_same_on_all_ranks(*comm, *sharded);
  }
}

// An optimiser ZeRO knows only through its state's serialize() (as a program's
// registered one): torch's RMSprop with momentum, so its state has two
// per-element tensors and a step count. Stages 1 to 3 with clipping
// against one process, the weights and the state gathered into a whole
// RMSprop; then that whole state split into a fresh sharded run, which must
// take the same next step. RMSprop divides by the root of a running mean of
// squares, as AdamW does: relative errors stay relative, the same tolerance.
std::unique_ptr<torch::optim::Optimizer> rmsprop(std::vector<at::Tensor> ps) {
  return std::make_unique<torch::optim::RMSprop>(ps,
                                                 torch::optim::RMSpropOptions(0.01).momentum(0.5));
}

// The largest difference between two RMSprop states' tensors over `a`'s
// parameters, relative to each tensor's largest element where that is above
// one (RMSprop's momentum is a gradient over the root of a running mean of its
// squares, elements up to 10: float32's relative error is absolute 1e-6 and
// more on them); the step counts must agree exactly.
double state_difference(torch::optim::Optimizer& a, torch::nn::Sequential& a_net,
                        torch::optim::Optimizer& b, torch::nn::Sequential& b_net) {
  double worst = 0;
  for (size_t i = 0; i < a_net->parameters().size(); ++i) {
    const auto& sa = static_cast<const torch::optim::RMSpropParamState&>(
        *a.state().at(a_net->parameters()[i].unsafeGetTensorImpl()));
    const auto& sb = static_cast<const torch::optim::RMSpropParamState&>(
        *b.state().at(b_net->parameters()[i].unsafeGetTensorImpl()));
    EXPECT_EQ(sa.step(), sb.step()) << "parameter " << i;
    for (auto [x, y] : {std::pair{sa.square_avg(), sb.square_avg()},
                        {sa.momentum_buffer(), sb.momentum_buffer()},
                        {sa.grad_avg(), sb.grad_avg()}}) {
      EXPECT_EQ(x.defined(), y.defined()) << "parameter " << i;
      if (!x.defined() || !y.defined()) continue;
      worst = std::max(worst, ((x - y).abs().max() / y.abs().max().clamp_min(1)).item<double>());
    }
  }
  return worst;
}

// A whole RMSprop over `to` holding `from`'s state of `from_net`'s parameters, in order.
std::unique_ptr<torch::optim::Optimizer> with_state_of(torch::optim::Optimizer& from,
                                                       torch::nn::Sequential& from_net,
                                                       torch::nn::Sequential& to) {
  auto out = rmsprop(to->parameters());
  for (size_t i = 0; i < to->parameters().size(); ++i) {
    // clone() shares the tensors; stepping `out` must leave `from` as it was.
    const auto& s = static_cast<const torch::optim::RMSpropParamState&>(
        *from.state().at(from_net->parameters()[i].unsafeGetTensorImpl()));
    auto copy = std::make_unique<torch::optim::RMSpropParamState>();
    copy->step(s.step());
    copy->square_avg(s.square_avg().clone());
    copy->momentum_buffer(s.momentum_buffer().clone());
    if (s.grad_avg().defined()) copy->grad_avg(s.grad_avg().clone());
    out->state()[to->parameters()[i].unsafeGetTensorImpl()] = std::move(copy);
  }
  return out;
}

void sharded_steps(ShardedDataParallel& sharded, const Data& data, int64_t first, int64_t count,
                   int world, int rank) {
  for (int64_t s = first; s < first + count; ++s) {
    sharded.zero_grad();
    loss_on(sharded, data, s * world * kBatch + rank * kBatch, kBatch).backward();
    sharded.step();
  }
}

void scenario_serialized_state(const CommunicatorPtr& comm) {
  const int world = comm->size(), rank = comm->rank();
  const Data data = make_data((kSteps + 1) * world * kBatch);
  auto ref = make_net(1);
  auto ref_optimizer = rmsprop(ref->parameters());
  for (int64_t s = 0; s < kSteps; ++s) {  // the next step is taken after the comparison
    ref_optimizer->zero_grad();
    loss_on(*ref, data, s * world * kBatch, world * kBatch).backward();
    torch::nn::utils::clip_grad_norm_(ref->parameters(), kMaxNorm);
    ref_optimizer->step();
  }
  for (int stage : {1, 2, 3}) {
    ShardOptions options;
    options.stage = stage;
    options.unit_cap_bytes = 512;
    options.max_grad_norm = kMaxNorm;
    auto net = make_net(1);
    ShardedDataParallel sharded(net.ptr(), comm, rmsprop, options);
    sharded_steps(sharded, data, 0, kSteps, world, rank);
    auto trained = whole_copy(sharded, net);
    auto gathered = rmsprop(net->parameters());  // keyed by the sharded module's parameters
    {
      auto whole = sharded.gather_whole();
      sharded.gather_optimizer_state(*gathered);
    }
    const double weights = max_difference(*trained, *ref);
    const double state = state_difference(*gathered, net, *ref_optimizer, ref);
    std::printf("stage %d rmsprop: weights %.3g, gathered state %.3g from one process\n", stage,
                weights, state);
    EXPECT_LE(weights, kTolerance) << "stage " << stage;
    EXPECT_LE(state, kTolerance) << "stage " << stage;
    // A fresh sharded run from those weights and that whole state.
    auto resumed = make_net(1);
    {
      torch::NoGradGuard no_grad;
      for (size_t i = 0; i < resumed->parameters().size(); ++i)
        resumed->parameters()[i].copy_(trained->parameters()[i]);
    }
    auto resumed_state = with_state_of(*gathered, net, resumed);
    ShardedDataParallel again(resumed.ptr(), comm, rmsprop, options);
    again.load_optimizer_state(*resumed_state);
    sharded_steps(again, data, kSteps, 1, world, rank);
    auto ref_next = make_net(0);
    {
      torch::NoGradGuard no_grad;
      for (size_t i = 0; i < ref_next->parameters().size(); ++i)
        ref_next->parameters()[i].copy_(ref->parameters()[i]);
    }
    auto next_optimizer = with_state_of(*ref_optimizer, ref, ref_next);
    next_optimizer->zero_grad();
    loss_on(*ref_next, data, kSteps * world * kBatch, world * kBatch).backward();
    torch::nn::utils::clip_grad_norm_(ref_next->parameters(), kMaxNorm);
    next_optimizer->step();
    const double after = max_difference(*whole_copy(again, resumed), *ref_next);
    std::printf("stage %d rmsprop: one step after loading the whole state: %.3g\n", stage, after);
    EXPECT_LE(after, kTolerance) << "stage " << stage;
    expect_same_on_all_ranks(*comm, *trained);
  }
}

// Runs only when zero_test.cpp starts this binary as a rank.
TEST(ZeroWorker, Run) {
  const char* scenario = std::getenv("COHORT_DDP_SCENARIO");
  if (scenario == nullptr) GTEST_SKIP() << "rank entry of the sharded data-parallel tests";
  torch::set_num_threads(1);
  CommunicatorPtr comm = init_world(world_info_from_environment(), std::chrono::seconds(60));
  const std::string name = scenario;
  if (name == "equivalence") {
    scenario_equivalence(comm);
  } else if (name == "hooks") {
    scenario_hooks(comm);
  } else if (name == "serialized_state") {
    scenario_serialized_state(comm);
  } else {
    FAIL() << "unknown scenario " << name;
  }
  comm->barrier();
}

}  // namespace zero_worker
}  // namespace cohort
