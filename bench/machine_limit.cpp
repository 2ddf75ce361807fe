// This machine's limit for the arithmetic training does, through libtorch: fp32 matrix
// products and convolutions at the sizes the zoo uses (batch 64) and at large sizes, in
// C++ and from Python (bench/machine_limit_peer.py, the same shapes through the same
// libtorch) in interleaved rounds. The limit other benches quote is the best large
// square product of limit_shapes(); the last line also gives each zoo model's training FLOPs per
// sample (cohort/model_flops.h) and the samples/s that limit would allow.
//
//   build/bench/machine_limit [--threads 2] [--rounds 3] [--min-seconds 0.5]
//                             [--peer PATH | --peer none] [--only-limit]
//                             [--mlp-widths 256,512,...]
//
// --only-limit times only limit_shapes(), in C++, and prints the summary: what
// bench/train_throughput.sh runs in each of its rounds.
// One JSON object per line: every shape's rate per round and runner, then per shape the
// medians and the ratio, then the summary.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "cohort/model_flops.h"
#include "limit_probe.h"
#include "median.h"
#include "peer_python.h"

namespace {

std::vector<OpShape> bench_shapes() {
  return {{"mlp 784x256 @64", "matmul", {64, 784, 256}},
          {"mlp 256x256 @64", "matmul", {64, 256, 256}},
          {"mlp 4096x4096 @64", "matmul", {64, 4096, 4096}},
          {"square 512", "matmul", {512, 512, 512}},
          {"square 1024", "matmul", {1024, 1024, 1024}},
          {"square 2048", "matmul", {2048, 2048, 2048}},
          {"square 4096", "matmul", {4096, 4096, 4096}},
          {"cnn conv1 @64", "conv", {64, 1, 32, 28, 28, 3}},
          {"cnn conv2 @64", "conv", {64, 32, 64, 14, 14, 3}},
          {"resnet conv 64ch 14x14 @64", "conv", {64, 64, 64, 14, 14, 3}},
          {"conv 128ch 56x56 @32", "conv", {32, 128, 128, 56, 56, 3}}};
}

nlohmann::json shapes_json(const std::vector<OpShape>& shapes) {
  nlohmann::json list = nlohmann::json::array();
  for (const OpShape& s : shapes)
    list.push_back({{"name", s.name}, {"kind", s.kind}, {"dims", s.dims}});
  return list;
}

// The peer's rate per shape name; empty if it could not run.
std::map<std::string, double> run_peer(const std::string& peer, const std::vector<OpShape>& shapes,
                                       int threads, double min_seconds) {
  const std::string cmd = peer_python() + " " + peer + " --threads " + std::to_string(threads) +
                          " --min-seconds " + std::to_string(min_seconds) + " --cases '" +
                          shapes_json(shapes).dump() + "'";
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(cmd.c_str(), "r"), pclose);
  std::map<std::string, double> rates;
  if (!pipe) return rates;
  char buf[4096];
  while (fgets(buf, sizeof buf, pipe.get())) {
    const auto line = nlohmann::json::parse(buf, nullptr, false);
    if (line.is_object() && line.contains("gflops")) rates[line["name"]] = line["gflops"];
  }
  return rates;
}

// Medians over rounds of the rate, of the rate over that round's limit and of the
// rate over the peer's in that round.
nlohmann::json shape_summary(const OpShape& shape, const std::vector<double>& ours,
                             const std::vector<double>& theirs, const std::vector<double>& limits) {
  std::vector<double> fractions, over_peer;
  for (size_t r = 0; r < ours.size(); ++r) {
    fractions.push_back(ours[r] / limits[r]);
    if (r < theirs.size()) over_peer.push_back(ours[r] / theirs[r]);
  }
  nlohmann::json row = {{"bench", "machine_limit"},
                        {"shape", shape.name},
                        {"kind", shape.kind},
                        {"dims", shape.dims},
                        {"gflops_median", median(ours)},
                        {"fraction_of_limit", median(fractions)},
                        {"fraction_of_limit_all", fractions}};
  if (!theirs.empty()) {
    row["peer_gflops_median"] = median(theirs);
    row["cohort_over_peer"] = median(over_peer);
    row["cohort_over_peer_all"] = over_peer;
  }
  return row;
}

std::string cpu_model() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  for (std::string line; std::getline(cpuinfo, line);) {
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  }
  return "unknown";
}

// The zoo's defaults, and mlp 784-W-W-10 for each W asked for (as "mlp WxW").
nlohmann::json zoo_costs(double limit_gflops, const std::vector<int64_t>& mlp_widths) {
  std::vector<std::pair<std::string, cohort::ModelSpec>> specs;
  for (const std::string name : {"mlp", "cnn", "resnet"}) specs.push_back({name, {name}});
  for (int64_t w : mlp_widths) {
    cohort::ModelSpec spec{"mlp"};
    spec.widths = {w, w};
    specs.push_back({"mlp " + std::to_string(w) + "x" + std::to_string(w), spec});
  }
  nlohmann::json models = nlohmann::json::object();
  for (const auto& [name, spec] : specs) {
    const cohort::ModelFlops flops = cohort::model_flops(spec);
    models[name] = {{"forward_flops_per_sample", flops.forward},
                    {"training_flops_per_sample", flops.training()},
                    {"samples_per_sec_at_limit", limit_gflops * 1e9 / flops.training()}};
  }
  return models;
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 2, rounds = 3;
  double min_seconds = 0.5;
  std::string peer = std::string(COHORT_SOURCE_DIR) + "/bench/machine_limit_peer.py";
  CLI::App app{"fp32 matrix-product and convolution throughput through libtorch, C++ and Python"};
  app.add_option("--threads", threads, "intra-op threads")->check(CLI::PositiveNumber);
  app.add_option("--rounds", rounds, "interleaved rounds (medians reported)")
      ->check(CLI::PositiveNumber);
  app.add_option("--min-seconds", min_seconds, "timed seconds per shape and round")
      ->check(CLI::PositiveNumber);
  app.add_option("--peer", peer, "machine_limit_peer.py, or none");
  bool only_limit = false;
  std::vector<int64_t> mlp_widths;
  app.add_option("--mlp-widths", mlp_widths,
                 "also give the costs of mlp 784-W-W-10 for each W (as \"mlp WxW\")")
      ->delimiter(',');
  app.add_flag("--only-limit", only_limit,
               "only the limit's squares (1024, 2048) in C++, then the summary");
  CLI11_PARSE(app, argc, argv);
  at::set_num_threads(threads);
  std::vector<OpShape> shapes = bench_shapes();
  if (only_limit) {
    shapes = limit_shapes();
    peer = "none";
  }
  std::map<std::string, std::vector<double>> ours, theirs;
  for (int round = 0; round < rounds; ++round) {
    // The peer's way: a second of large products before timing (the first ones in a
    // process, or after the peer had the cores, run slower).
    measure_gflops(limit_shapes().front(), 1.0);
    for (const OpShape& shape : shapes) {
      const double rate = measure_gflops(shape, min_seconds);
      ours[shape.name].push_back(rate);
      std::cout << nlohmann::json{{"bench", "machine_limit"},
                                  {"runner", "cohort"},
                                  {"round", round},
                                  {"shape", shape.name},
                                  {"gflops", rate}}
                       .dump()
                << std::endl;
    }
    if (peer == "none") continue;
    for (const auto& [name, rate] : run_peer(peer, shapes, threads, min_seconds)) {
      theirs[name].push_back(rate);
      std::cout << nlohmann::json{{"bench", "machine_limit"},
                                  {"runner", "peer"},
                                  {"round", round},
                                  {"shape", name},
                                  {"gflops", rate}}
                       .dump()
                << std::endl;
    }
  }
  // The limit in each round is that round's best of limit_shapes(), the definition
  // every other bench uses: the machine's speed drifts (a shared host), so every
  // fraction and ratio is taken within a round, then the median over rounds.
  std::vector<double> limits(rounds, 0);
  for (const OpShape& shape : limit_shapes())
    for (int r = 0; r < rounds; ++r) limits[r] = std::max(limits[r], ours.at(shape.name)[r]);
  double conv_best = 0;
  for (const OpShape& shape : shapes) {
    std::cout << shape_summary(shape, ours[shape.name], theirs[shape.name], limits).dump()
              << std::endl;
    if (shape.kind == "conv") conv_best = std::max(conv_best, median(ours[shape.name]));
  }
  const double limit = median(limits);
  std::cout << nlohmann::json{{"bench", "machine_limit"},
                              {"summary", true},
                              {"torch", std::to_string(TORCH_VERSION_MAJOR) + "." +
                                            std::to_string(TORCH_VERSION_MINOR) + "." +
                                            std::to_string(TORCH_VERSION_PATCH)},
                              {"cpu", cpu_model()},
                              {"cores", std::thread::hardware_concurrency()},
                              {"threads", threads},
                              {"rounds", rounds},
                              {"matmul_limit_gflops", limit},
                              {"matmul_limit_per_round_gflops", limits},
                              {"conv_best_gflops",
                               conv_best > 0 ? nlohmann::json(conv_best) : nullptr},
                              {"models", zoo_costs(limit, mlp_widths)}}
                   .dump()
            << std::endl;
  return 0;
}
