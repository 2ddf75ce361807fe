// Where a fused step's time goes: K fused zoo mlps (or cnns) train for --steps
// steps under libtorch's profiler, and each operator's self time (its time less
// the operators it called) per step is printed, largest first, beside the step
// timed without the profiler. Read against bench/fused_floor.py, which times the
// step's products and optimiser pass each alone (docs/benchmarks/fused.md).
//
//   build/bench/fused_step_ops --copies 16 --threads 2
//
// One JSON object per operator, then a summary. No peer runs here: this splits
// Cohort's own step; fused_arrays compares it with the peers.
#include <fmt/format.h>
#include <torch/csrc/autograd/profiler_kineto.h>
#include <torch/torch.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "fused_training.h"
#include "heap_option.h"

namespace {

namespace profiler = torch::autograd::profiler;

struct Span {
  std::string name;
  uint64_t thread, start, end;
};

// Self nanoseconds by operator name: each span's duration less its children's,
// nesting found per thread from the start and end times.
std::map<std::string, double> self_ns(std::vector<Span> spans) {
  std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) {
    return std::tie(a.thread, a.start, b.end) < std::tie(b.thread, b.start, a.end);
  });
  std::map<std::string, double> self;
  std::vector<const Span*> open;
  for (const Span& s : spans) {
    while (!open.empty() && (open.back()->thread != s.thread || open.back()->end <= s.start))
      open.pop_back();
    self[s.name] += double(s.end - s.start);
    if (!open.empty()) self[open.back()->name] -= double(s.end - s.start);
    open.push_back(&s);
  }
  return self;
}

}  // namespace

int main(int argc, char** argv) {
  int64_t copies = 16, steps = 50, batch = 64, warmup = 10;
  int threads = 2;
  std::string model = "mlp", heap = "kept";
  CLI::App app{"Each operator's self time in a step of K fused networks"};
  app.add_option("--copies", copies, "K, the fused copies")->check(CLI::Range(1, 1024));
  app.add_option("--model", model, "zoo model")->check(CLI::IsMember({"mlp", "cnn"}));
  app.add_option("--steps", steps, "profiled steps (and as many timed)")
      ->check(CLI::Range(1, 100000));
  app.add_option("--batch", batch, "samples per step")->check(CLI::Range(1, 1 << 20));
  app.add_option("--threads", threads, "intra-op threads")->check(CLI::Range(1, 1024));
  add_heap_option(app, heap);
  CLI11_PARSE(app, argc, argv);
  torch::set_num_threads(threads);
  apply_heap_option(heap);

  torch::manual_seed(0);
  FusedTraining training(model, copies, cohort::FusedKernels::kAuto);
  const at::Tensor x = torch::randn({batch, 1, 28, 28});
  const at::Tensor y = torch::randint(10, {batch}, torch::kInt64);
  auto step = [&] { training.step(x, y); };
  for (int64_t s = 0; s < warmup; ++s) step();
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t s = 0; s < steps; ++s) step();
  const double step_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() /
      double(steps);

  const profiler::ProfilerConfig config(profiler::ProfilerState::KINETO);
  const std::set<torch::profiler::impl::ActivityType> cpu{torch::profiler::impl::ActivityType::CPU};
  profiler::prepareProfiler(config, cpu);
  profiler::enableProfiler(config, cpu);
  for (int64_t s = 0; s < steps; ++s) step();
  const auto result = profiler::disableProfiler();
  std::vector<Span> spans;
  for (const profiler::KinetoEvent& e : result->events())
    if (e.deviceType() == c10::DeviceType::CPU && !e.isAsync())
      spans.push_back({e.name(), e.startThreadId(), e.startNs(), e.startNs() + e.durationNs()});

  std::vector<std::pair<double, std::string>> by_time;
  double profiled_ms = 0;
  for (const auto& [name, ns] : self_ns(spans)) {
    by_time.emplace_back(ns / 1e6 / double(steps), name);
    profiled_ms += by_time.back().first;
  }
  std::sort(by_time.rbegin(), by_time.rend());
  // The operators under 1% of the step, as one line: there are dozens.
  double rest_ms = 0;
  int rest = 0;
  for (const auto& [ms, name] : by_time) {
    if (ms < 0.01 * step_ms) {
      rest_ms += ms;
      ++rest;
      continue;
    }
    std::cout << nlohmann::json{{"bench", "fused_step_ops"}, {"op", name}, {"self_ms_per_step", ms}}
                     .dump()
              << std::endl;
  }
  std::cout << nlohmann::json{{"bench", "fused_step_ops"},
                              {"op", fmt::format("{} others, each under 1% of the step", rest)},
                              {"self_ms_per_step", rest_ms}}
                   .dump()
            << std::endl;
  std::cout << nlohmann::json{{"bench", "fused_step_ops"},
                              {"summary", true},
                              {"model", model},
                              {"copies", copies},
                              {"batch", batch},
                              {"threads", threads},
                              {"heap", heap},
                              {"step_ms", step_ms},
                              {"ops_self_ms_per_step", profiled_ms}}
                   .dump()
            << std::endl;
  return 0;
}
