// Throughput of a fused array of K copies against K sequential single-network runs
// of the same steps and against the vmap peer (ensemble_vmap.py: the K copies
// stacked and trained with torch.func.vmap, what a Python user writes instead),
// for the zoo's mlp and cnn, with the Python peer's single-network throughput
// from the same run for scale, and each side's fraction of the machine's limit
// (model FLOPs per sample x samples/s over the best large fp32 product, timed in
// every repeat: bench/limit_probe.h).
//
//   build/bench/fused_arrays [--copies 4,8,16] [--models mlp,cnn] [--steps 60]
//                            [--batch 64] [--threads 2] [--repeats 3]
//                            [--peer PATH | --peer none] [--vmap-peer PATH | none]
//                            [--forced-kernels batched,per_copy | none]
//
// One JSON object per line; each row's rates and ratios are medians over the
// repeats (sequential, fused and vmap alternate, so slow spells of a shared
// machine fall on all three). Inputs are seeded random tensors shaped like
// Fashion-MNIST (1 x 28 x 28, 10 classes): step time does not depend on values.
#include <torch/torch.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "cohort/fused.h"
#include "cohort/model_flops.h"
#include "cohort/models.h"
#include "fused_training.h"
#include "heap_option.h"
#include "limit_probe.h"
#include "median.h"
#include "peer_python.h"

namespace {

namespace nn = torch::nn;
using Clock = std::chrono::steady_clock;

// The zoo's default mlp (784-256-256-10) and cnn (conv32-pool-conv64-pool-fc128-fc10):
// the same layers as the peer's.
nn::Sequential make_model(const std::string& name) {
  cohort::ModelSpec spec;
  spec.name = name;
  return cohort::build_model(spec);
}

struct Batches {
  std::vector<at::Tensor> x, y;
};

Batches make_batches(int64_t count, int64_t batch) {
  torch::manual_seed(0);
  Batches b;
  for (int64_t i = 0; i < count; ++i) {
    b.x.push_back(torch::randn({batch, 1, 28, 28}));
    b.y.push_back(torch::randint(10, {batch}, torch::kInt64));
  }
  return b;
}

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// K single networks, one after another, each for `steps` steps (after `warmup`).
double sequential_seconds(const std::string& model, int64_t copies, int64_t warmup, int64_t steps,
                          const Batches& data) {
  double total = 0;
  for (int64_t k = 0; k < copies; ++k) {
    auto net = make_model(model);
    torch::optim::SGD sgd(net->parameters(), torch::optim::SGDOptions(0.05).momentum(0.9));
    auto step = [&](int64_t s) {
      sgd.zero_grad();
      torch::nn::functional::cross_entropy(net->forward(data.x[s]), data.y[s]).backward();
      sgd.step();
    };
    for (int64_t s = 0; s < warmup; ++s) step(s);
    const auto t0 = Clock::now();
    for (int64_t s = 0; s < steps; ++s) step(s);
    total += seconds_since(t0);
  }
  return total;
}

double fused_seconds(const std::string& model, int64_t copies, int64_t warmup, int64_t steps,
                     const Batches& data, cohort::FusedKernels kernels) {
  FusedTraining training(model, copies, kernels);
  for (int64_t s = 0; s < warmup; ++s) training.step(data.x[s], data.y[s]);
  const auto t0 = Clock::now();
  for (int64_t s = 0; s < steps; ++s) training.step(data.x[s], data.y[s]);
  return seconds_since(t0);
}

// The peer's last output line (a JSON object), or null if it could not run.
nlohmann::json run_peer(const std::string& peer, const std::string& model, int64_t steps,
                        int64_t batch, int threads, const std::string& extra = "") {
  std::ostringstream cmd;
  cmd << peer_python() << " " << peer << " --model " << model << " --max-steps " << steps + 20
      << " --warmup 20 --batch-size " << batch << " --threads " << threads << " --eval 0 " << extra
      << " 2>&1";
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(cmd.str().c_str(), "r"), pclose);
  if (!pipe) return nullptr;
  std::string last, line;
  char buf[4096];
  while (fgets(buf, sizeof buf, pipe.get())) {
    line = buf;
    if (!line.empty() && line[0] == '{') last = line;
  }
  return last.empty() ? nlohmann::json(nullptr) : nlohmann::json::parse(last, nullptr, false);
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int64_t> copies_list = {4, 8, 16};
  std::vector<std::string> models = {"mlp", "cnn"};
  std::string peer = "/work/shared/peers/ddp_fashion.py";
  std::string vmap_peer = "/work/shared/peers/ensemble_vmap.py";
  int64_t steps = 60, batch = 64, warmup = 5;
  int threads = 2, repeats = 3;
  CLI::App app{"Fused arrays of K copies against K sequential single-network runs"};
  app.add_option("--copies", copies_list, "K values")->delimiter(',');
  app.add_option("--models", models, "zoo models")->delimiter(',');
  app.add_option("--steps", steps, "timed steps per network");
  app.add_option("--batch", batch, "samples per step and copy");
  app.add_option("--threads", threads, "intra-op threads");
  app.add_option("--repeats", repeats, "sequential/fused pairs per row (medians reported)")
      ->check(CLI::PositiveNumber);
  app.add_option("--peer", peer, "ddp_fashion.py, or none");
  app.add_option("--vmap-peer", vmap_peer, "ensemble_vmap.py, or none");
  std::vector<std::string> forced = {"batched", "per_copy"};
  app.add_option("--forced-kernels", forced,
                 "also time the fused array with every layer batched (the GPU's choice) and "
                 "every layer per copy; fused rows use the device's default, or none")
      ->delimiter(',')
      ->check(CLI::IsMember({"batched", "per_copy", "none"}));
  std::string heap = "kept";
  add_heap_option(app, heap);
  CLI11_PARSE(app, argc, argv);
  std::erase(forced, "none");
  torch::set_num_threads(threads);
  apply_heap_option(heap);
  const Batches data = make_batches(warmup + steps, batch);
  for (const std::string& model : models) {
    double peer_rate = 0;
    if (peer != "none") {
      nlohmann::json p = run_peer(peer, model, steps, batch, threads);
      if (p.is_object() && p.contains("samples_per_sec")) {
        peer_rate = p["samples_per_sec"].get<double>();
        std::cout << nlohmann::json{{"bench", "fused_arrays"}, {"run", "peer_single"},
                                    {"model", model},          {"threads", threads},
                                    {"batch", batch},          {"samples_per_sec", peer_rate}}
                         .dump()
                  << std::endl;
      }
    }
    for (const int64_t k : copies_list) {
      const double samples = static_cast<double>(k * steps * batch);  // over all copies
      std::vector<double> seq_rates, fused_rates, ratios, vmap_rates, over_vmap, limits;
      std::map<std::string, std::vector<double>> forced_rates;  // by kernels
      for (int r = 0; r < repeats; ++r) {
        limits.push_back(matmul_limit_gflops(0.3));
        const double seq = sequential_seconds(model, k, warmup, steps, data);
        const double fused =
            fused_seconds(model, k, warmup, steps, data, cohort::FusedKernels::kAuto);
        for (const std::string& name : forced) {
          const auto kernels =
              name == "batched" ? cohort::FusedKernels::kBatched : cohort::FusedKernels::kPerCopy;
          forced_rates[name].push_back(samples /
                                       fused_seconds(model, k, warmup, steps, data, kernels));
        }
        seq_rates.push_back(samples / seq);
        fused_rates.push_back(samples / fused);
        ratios.push_back(seq / fused);
        if (vmap_peer == "none") continue;
        // The peer counts K x batch per step, as samples here do.
        const nlohmann::json v =
            run_peer(vmap_peer, model, steps, batch, threads, "--k " + std::to_string(k));
        if (v.is_object() && v.contains("samples_per_sec")) {
          vmap_rates.push_back(v["samples_per_sec"].get<double>());
          over_vmap.push_back(fused_rates.back() / vmap_rates.back());
        }
      }
      nlohmann::json row = {{"bench", "fused_arrays"},
                            {"model", model},
                            {"copies", k},
                            {"steps", steps},
                            {"batch", batch},
                            {"threads", threads},
                            {"heap", heap},
                            {"repeats", repeats},
                            {"sequential_samples_per_sec", median(seq_rates)},
                            {"fused_samples_per_sec", median(fused_rates)},
                            {"fused_over_sequential", median(ratios)},
                            {"fused_over_sequential_all", ratios}};
      if (peer_rate > 0) row["fused_over_peer_single"] = median(fused_rates) / peer_rate;
      // FLOPs per second over the limit's, both per copy-sample, within each repeat
      // (the host's speed drifts between repeats), then the median.
      const double flops = cohort::model_flops(cohort::ModelSpec{model}).training();
      auto fraction = [&](const std::vector<double>& rates) {
        std::vector<double> fractions;
        for (size_t r = 0; r < rates.size(); ++r)
          fractions.push_back(rates[r] * flops / (limits[r] * 1e9));
        return median(fractions);
      };
      row["matmul_limit_gflops"] = median(limits);
      row["sequential_fraction_of_limit"] = fraction(seq_rates);
      row["fused_fraction_of_limit"] = fraction(fused_rates);
      for (const auto& [name, rates] : forced_rates) {
        row["fused_" + name + "_samples_per_sec"] = median(rates);
        row["fused_" + name + "_over_sequential"] = median(rates) / median(seq_rates);
      }
      if (!vmap_rates.empty()) {
        row["vmap_samples_per_sec"] = median(vmap_rates);
        row["fused_over_vmap"] = median(over_vmap);
        row["fused_over_vmap_all"] = over_vmap;
        if (vmap_rates.size() == limits.size())
          row["vmap_fraction_of_limit"] = fraction(vmap_rates);
      }
      std::cout << row.dump() << std::endl;
    }
  }
  return 0;
}
