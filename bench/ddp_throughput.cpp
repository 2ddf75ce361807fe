// DDP training throughput on Fashion-MNIST, Cohort against PyTorch's DDP (the
// Python peer) on the same settings. Run as one rank of a group (RANK,
// WORLD_SIZE, MASTER_ADDR, MASTER_PORT; bench/ddp_throughput.sh starts two);
// rank 0 prints Cohort's result, then, once the group has finished, runs the
// peer with the same model, world size, threads, batch and steps and prints
// the peer's result and the ratio. One JSON object per line.
//
// The loop is the peer's: one shuffled permutation per epoch shared by all
// ranks, rank r takes slice (step * world + r) of it, SGD with momentum 0.9,
// timing starts after a barrier at the end of warm-up and stops after a barrier.
#include <ATen/CPUGeneratorImpl.h>
#include <fmt/format.h>
#include <torch/torch.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cohort/data.h"
#include "cohort/ddp.h"
#include "cohort/error.h"
#include "cohort/launch.h"
#include "cohort/models.h"
#include "cohort/rendezvous.h"
#include "heap_option.h"
#include "peer_python.h"

namespace {

struct Settings {
  std::string model = "cnn";
  int64_t steps = 200;
  int64_t warmup = 20;
  int64_t batch = 64;
  int threads = 1;
  double lr = 0.05;
  double first_bucket_mb = -1;  // < 0: DdpOptions' default
  int64_t poll_us = -1;         // < 0: DdpOptions' default
  std::string peer;
  std::string data = cohort::default_data_folder();
  std::string heap = "kept";
};

nlohmann::json train_cohort(const Settings& s, const cohort::CommunicatorPtr& comm) {
  const int world = comm->size(), rank = comm->rank();
  const auto train = cohort::load_dataset(s.data, cohort::Split::Train);
  torch::manual_seed(0);
  cohort::ModelSpec spec;
  spec.name = s.model;
  auto net = cohort::build_model(spec);
  cohort::DdpOptions options;
  if (s.first_bucket_mb >= 0)
    options.first_bucket_cap_bytes = static_cast<int64_t>(s.first_bucket_mb * 1024 * 1024);
  if (s.poll_us >= 0) options.poll_before_block = std::chrono::microseconds(s.poll_us);
  cohort::DistributedDataParallel ddp(net.ptr(), comm, options);
  torch::optim::SGD sgd(net->parameters(), torch::optim::SGDOptions(s.lr).momentum(0.9));

  const int64_t n = train->size(), steps_per_epoch = n / (s.batch * world);
  const int64_t warm = std::min(s.warmup, s.steps / 4);
  auto generator = at::detail::createCPUGenerator(0);
  at::Tensor perm;
  double comm_seconds = 0, hidden_seconds = 0;
  auto t0 = std::chrono::steady_clock::now();
  for (int64_t step = 0; step < s.steps; ++step) {
    const int64_t in_epoch = step % steps_per_epoch;
    if (in_epoch == 0) perm = at::randperm(n, generator);
    if (step == warm) {
      comm->barrier();
      t0 = std::chrono::steady_clock::now();
    }
    at::Tensor idx = perm.narrow(0, (in_epoch * world + rank) * s.batch, s.batch);
    const cohort::Batch batch = train->get(idx);
    const at::Tensor &x = batch.inputs, &y = batch.targets;
    sgd.zero_grad();
    torch::nn::functional::cross_entropy(net->forward(x), y).backward();
    ddp.synchronize();
    sgd.step();
    if (step >= warm) {
      comm_seconds += ddp.last_timeline().communication_seconds();
      hidden_seconds += ddp.last_timeline().hidden_seconds();
    }
  }
  comm->barrier();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const int64_t timed = s.steps - warm;
  return {{"bench", "ddp_throughput"},
          {"impl", "cohort"},
          {"heap", s.heap},
          {"model", s.model},
          {"world_size", world},
          {"threads", s.threads},
          {"batch_size", s.batch},
          {"steps", s.steps},
          {"buckets", ddp.bucket_plan().buckets.size()},
          {"poll_before_block_us", options.poll_before_block.count()},
          {"samples_per_sec", static_cast<double>(timed * s.batch * world) / seconds},
          {"comm_ms_per_step", 1e3 * comm_seconds / static_cast<double>(timed)},
          {"comm_hidden_share", comm_seconds > 0 ? hidden_seconds / comm_seconds : 0.0}};
}

// The peer's last output line is its JSON result.
nlohmann::json run_peer(const Settings& s, int world) {
  const std::string command = fmt::format(
      "{} {} --model {} --world-size {} --threads {} --batch-size {} "
      "--max-steps {} --warmup {} --lr {} --eval 0 --data {} --port {}",
      peer_python(), s.peer, s.model, world, s.threads, s.batch, s.steps, s.warmup, s.lr, s.data,
      cohort::pick_free_port());
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) throw cohort::Error("ddp_throughput: cannot start the peer: " + command);
  std::string output, last;
  char buffer[4096];
  while (fgets(buffer, sizeof(buffer), pipe)) {
    output += buffer;
    if (buffer[0] == '{') last = buffer;
  }
  if (pclose(pipe) != 0 || last.empty()) {
    throw cohort::Error("ddp_throughput: the peer failed (" + command + "):\n" + output);
  }
  nlohmann::json result = nlohmann::json::parse(last);
  result["bench"] = "ddp_throughput";
  result["impl"] = "pytorch-ddp";
  return result;
}

}  // namespace

int main(int argc, char** argv) {
  Settings s;
  CLI::App app{"DDP throughput: Cohort against PyTorch DDP (run as one rank of a group)"};
  app.add_option("--model", s.model, "mlp | cnn");
  app.add_option("--steps", s.steps, "steps per rank, warm-up included");
  app.add_option("--warmup", s.warmup, "untimed steps (at most a quarter of --steps)");
  app.add_option("--batch-size", s.batch, "per rank");
  app.add_option("--threads", s.threads, "intra-op threads per rank");
  app.add_option("--lr", s.lr);
  app.add_option("--first-bucket-mb", s.first_bucket_mb,
                 "the first bucket launched closes once it holds this many MiB (default: "
                 "DdpOptions' default, 1; 0: no separate first bucket)");
  app.add_option("--poll-us", s.poll_us,
                 "microseconds synchronize() polls a bucket before blocking (default: "
                 "DdpOptions' default; 0: block at once)");
  app.add_option("--peer", s.peer, "ddp_fashion.py; rank 0 runs it after Cohort's run");
  app.add_option("--data", s.data, "Fashion-MNIST folder");
  add_heap_option(app, s.heap);
  CLI11_PARSE(app, argc, argv);
  try {
    torch::set_num_threads(s.threads);
    apply_heap_option(s.heap);
    nlohmann::json ours;
    int world = 1, rank = 0;
    {
      cohort::CommunicatorPtr comm = cohort::init_world(cohort::world_info_from_environment());
      world = comm->size();
      rank = comm->rank();
      ours = train_cohort(s, comm);
    }  // the group is gone before the peer starts: it gets the whole machine
    if (rank != 0) return 0;
    std::cout << ours.dump() << std::endl;
    if (s.peer.empty()) return 0;
    nlohmann::json peer = run_peer(s, world);
    std::cout << peer.dump() << std::endl;
    const double ratio =
        ours["samples_per_sec"].get<double>() / peer["samples_per_sec"].get<double>();
    std::cout << nlohmann::json{{"bench", "ddp_throughput"},
                                {"model", s.model},
                                {"world_size", world},
                                {"ratio_cohort_over_peer", ratio},
                                {"comm_hidden_share", ours["comm_hidden_share"]}}
                     .dump()
              << std::endl;
  } catch (const cohort::Error& e) {
    std::cerr << "ddp_throughput: " << e.what() << std::endl;
    return e.exit_code();
  }
  return 0;
}
