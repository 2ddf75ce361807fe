// Sharded data parallelism (ZeRO 1, 2 and 3) against DDP: per-rank memory of
// parameters, gradients and optimiser state, and throughput, on a wide mlp
// whose training state (AdamW) is hundreds of megabytes. Run as one rank of a
// group (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT); bench/zero_memory.sh
// starts the groups and the Python peers (bench/zero_peer.py: PyTorch's DDP
// and FSDP2) in interleaved rounds. Rank 0 prints one JSON line.
//
// Memory is given three ways: what the ranks hold by kind between steps
// (counted from the tensors, exact), the most the second step's own
// allocations held at once (observe/allocation_meter.h: activations, whole
// gradients while they exist, gathered units, temporaries; the largest of
// the ranks'), and the largest peak resident set of the ranks (the process's
// whole footprint, libtorch included).
#include <ATen/CPUGeneratorImpl.h>
#include <fmt/format.h>
#include <sys/resource.h>
#include <torch/torch.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>

#include "cohort/data.h"
#include "cohort/ddp.h"
#include "cohort/error.h"
#include "cohort/models.h"
#include "cohort/rendezvous.h"
#include "cohort/zero.h"
#include "observe/allocation_meter.h"

namespace {

struct Settings {
  std::string mode = "zero2";  // ddp | zero1 | zero2 | zero3
  std::vector<int64_t> widths = {4096, 4096};
  int64_t steps = 30;
  int64_t warmup = 5;
  int64_t batch = 64;
  int threads = 1;
  double lr = 1e-4;
  std::string data = cohort::default_data_folder();
};

std::unique_ptr<torch::optim::Optimizer> adamw(std::vector<at::Tensor> parameters, double lr) {
  return std::make_unique<torch::optim::AdamW>(parameters, torch::optim::AdamWOptions(lr));
}

// One step's work in each mode, behind one interface: zero_grad, step.
struct Trainer {
  std::unique_ptr<cohort::DistributedDataParallel> ddp;
  std::unique_ptr<torch::optim::Optimizer> ddp_optimizer;
  std::unique_ptr<cohort::ShardedDataParallel> sharded;

  void zero_grad() { sharded ? sharded->zero_grad() : ddp_optimizer->zero_grad(false); }
  at::Tensor forward(torch::nn::Sequential& net, const at::Tensor& x) {
    return sharded ? sharded->forward(x) : net->forward(x);
  }
  void step() {
    if (sharded) {
      sharded->step();
      return;
    }
    ddp->synchronize();
    ddp_optimizer->step();
  }
  cohort::ShardMemory memory(torch::nn::Module& net) const {
    if (sharded) return sharded->memory();
    return cohort::whole_model_memory(net.parameters(), *ddp_optimizer);
  }
};

Trainer make_trainer(const Settings& s, torch::nn::Sequential& net,
                     const cohort::CommunicatorPtr& comm) {
  Trainer t;
  if (s.mode == "ddp") {
    t.ddp = std::make_unique<cohort::DistributedDataParallel>(net.ptr(), comm);
    t.ddp_optimizer = adamw(net->parameters(), s.lr);
    return t;
  }
  if (s.mode != "zero1" && s.mode != "zero2" && s.mode != "zero3")
    throw cohort::InputError("zero_memory: --mode is ddp, zero1, zero2 or zero3, not " + s.mode);
  cohort::ShardOptions options;
  options.stage = s.mode[4] - '0';
  t.sharded = std::make_unique<cohort::ShardedDataParallel>(
      net.ptr(), comm, [&](std::vector<at::Tensor> chunks) { return adamw(chunks, s.lr); },
      options);
  return t;
}

int64_t peak_resident_bytes() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<int64_t>(usage.ru_maxrss) * 1024;
}

nlohmann::json run(const Settings& s, const cohort::CommunicatorPtr& comm) {
  const int world = comm->size(), rank = comm->rank();
  const auto train = cohort::load_dataset(s.data, cohort::Split::Train);
  torch::manual_seed(0);
  cohort::ModelSpec spec;
  spec.name = "mlp";
  spec.widths = s.widths;
  auto net = cohort::build_model(spec);
  Trainer trainer = make_trainer(s, net, comm);
  auto generator = at::detail::createCPUGenerator(0);
  const at::Tensor perm = at::randperm(train->size(), generator);
  const int64_t per_epoch = train->size() / (s.batch * world);
  auto t0 = std::chrono::steady_clock::now();
  int64_t step_peak = 0;
  for (int64_t step = 0; step < s.steps; ++step) {
    if (step == s.warmup) {
      comm->barrier();
      t0 = std::chrono::steady_clock::now();
    }
    const int64_t slice = ((step % per_epoch) * world + rank) * s.batch;
    const cohort::Batch batch = train->get(perm.narrow(0, slice, s.batch));
    // The second step: the optimiser's state exists, as in every later one.
    std::optional<cohort::AllocationMeter> meter;
    if (step == 1) meter.emplace();
    trainer.zero_grad();
    torch::nn::functional::cross_entropy(trainer.forward(net, batch.inputs), batch.targets)
        .backward();
    trainer.step();
    if (meter) step_peak = meter->peak();
  }
  comm->barrier();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const cohort::ShardMemory m = trainer.memory(*net);
  // The largest of the ranks': the one that would run out first.
  const int64_t gathered = trainer.sharded ? trainer.sharded->peak_gathered_bytes() : 0;
  at::Tensor worst = at::tensor(
      {m.parameters, m.gradients, m.optimizer, peak_resident_bytes(), gathered, step_peak},
      at::kLong);
  comm->allreduce(worst, cohort::ReduceOp::Max);
  const auto w = worst.accessor<int64_t, 1>();
  const double mb = 1024.0 * 1024.0;
  return {
      {"bench", "zero_memory"},
      {"impl", "cohort"},
      {"mode", s.mode},
      {"world_size", world},
      {"widths", s.widths},
      {"model_parameters", static_cast<int64_t>(cohort::parameter_count(spec))},
      {"parameters_mb", w[0] / mb},
      {"gradients_mb", w[1] / mb},
      {"optimizer_mb", w[2] / mb},
      {"state_mb", (w[0] + w[1] + w[2]) / mb},
      {"peak_rss_mb", w[3] / mb},
      // Stage 3: the most parameter bytes held whole at once (units gathered).
      {"gathered_peak_mb", w[4] / mb},
      {"step_peak_mb", w[5] / mb},
      {"samples_per_sec", static_cast<double>((s.steps - s.warmup) * s.batch * world) / seconds}};
}

}  // namespace

int main(int argc, char** argv) {
  Settings s;
  CLI::App app{"ZeRO 1, 2 and 3 against DDP: memory and throughput (run as one rank of a group)"};
  app.add_option("--mode", s.mode, "ddp | zero1 | zero2 | zero3");
  app.add_option("--widths", s.widths, "the mlp's hidden widths");
  app.add_option("--steps", s.steps, "steps, warm-up included");
  app.add_option("--warmup", s.warmup, "untimed steps");
  app.add_option("--batch-size", s.batch, "per rank");
  app.add_option("--threads", s.threads, "intra-op threads per rank");
  app.add_option("--lr", s.lr);
  app.add_option("--data", s.data, "Fashion-MNIST IDX folder");
  CLI11_PARSE(app, argc, argv);
  try {
    if (s.warmup >= s.steps)
      throw cohort::InputError("zero_memory: --warmup must be below --steps");
    torch::set_num_threads(s.threads);
    auto comm = cohort::init_world(cohort::world_info_from_environment());
    const nlohmann::json result = run(s, comm);
    if (comm->rank() == 0) std::cout << result.dump() << std::endl;
    comm->barrier();
  } catch (const std::exception& e) {
    std::cerr << "zero_memory: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
