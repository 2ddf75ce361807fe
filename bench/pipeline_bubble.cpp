// Pipeline bubble: per-stage busy and idle time, measured bubble against the
// theory (P - 1) / (M + P - 1) and against the clock simulator fed with the
// measured forward/backward times (their mean over stages, and each stage's own:
// the step that imbalance alone explains), for GPipe and 1F1B at several micro-batch
// counts, and the peak bytes of stored activations (1F1B vs GPipe, and with
// recomputation). Run under the launcher, one process per stage:
//
//   cohort launch --nproc 2 -- build/bench/pipeline_bubble --out runs/pipeline_bubble
//
// Rank 0 prints one JSON object per configuration and writes one step's timeline
// per schedule as SVG into --out. There is no Python peer for pipelines in
// /work/shared/peers (PyTorch 1.13's Pipe needs one process with several
// devices); the reference is the analytic bubble and the simulator.
#include <fmt/format.h>
#include <torch/torch.h>

#include <CLI/CLI.hpp>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cohort/error.h"
#include "cohort/models.h"
#include "cohort/pipeline.h"
#include "cohort/rendezvous.h"
#include "heap_option.h"

using namespace cohort;

namespace {

struct Args {
  std::string model = "cnn";
  int64_t batch = 128;
  std::vector<int> micro_batches = {1, 2, 4, 8};
  int steps = 5;
  int warmup = 2;
  std::string out = "runs/pipeline_bubble";
  std::string partition = "time";
  int svg_micro_batches = 4;
  std::vector<int64_t> widths;  // mlp hidden widths; equal widths give balanced stages
  std::string heap = "kept";
};

void add_options(CLI::App& app, Args& a) {
  app.add_option("--model", a.model, "zoo model");
  app.add_option("--batch", a.batch, "rows per step, cut into micro-batches");
  app.add_option("--micro-batches", a.micro_batches, "micro-batch counts M")->delimiter(',');
  app.add_option("--steps", a.steps, "measured steps per configuration");
  app.add_option("--warmup", a.warmup, "unmeasured steps first");
  app.add_option("--out", a.out, "folder for the timelines (SVG)");
  app.add_option("--partition", a.partition, "stage cut: time, params or uniform");
  app.add_option("--svg-micro-batches", a.svg_micro_batches, "the M whose timeline is drawn");
  app.add_option("--widths", a.widths, "mlp hidden widths")->delimiter(',');
  add_heap_option(app, a.heap);
}

double seconds_since_epoch(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}

// Every stage's compute cells of one step on one clock (rank 0 gets them all).
std::vector<TimelineCell> gather_cells(Communicator& world, const StepResult& r, int m) {
  at::Tensor mine = torch::zeros({2 * m, 4}, torch::kFloat64);
  int row = 0;
  const double base = seconds_since_epoch(r.started);
  for (const auto& t : r.timings) {
    const auto k = t.instruction.kind;
    if (k != InstructionKind::Forward && k != InstructionKind::Backward) continue;
    mine[row][0] = k == InstructionKind::Forward ? 0.0 : 1.0;
    mine[row][1] = t.instruction.micro_batch;
    mine[row][2] = base + t.start;
    mine[row][3] = base + t.end;
    ++row;
  }
  const auto all = world.allgather(mine);
  std::vector<TimelineCell> cells;
  for (int s = 0; s < static_cast<int>(all.size()); ++s) {
    for (int i = 0; i < 2 * m; ++i) {
      const auto c = all[s][i];
      cells.push_back({s,
                       c[0].item<double>() == 0 ? InstructionKind::Forward
                                                : InstructionKind::Backward,
                       static_cast<int>(c[1].item<double>()), c[2].item<double>(),
                       c[3].item<double>()});
    }
  }
  return cells;
}

void run_config(Communicator& world, PipelineStage& stage, const Batch& batch, const Args& a,
                ScheduleKind schedule, int m, bool recompute) {
  const PipelineOptions options{schedule, m, recompute};
  double busy = 0, wall = 0, fwd = 0, bwd = 0;
  int64_t peak = 0;
  StepResult last;
  for (int step = 0; step < a.warmup + a.steps; ++step) {
    world.barrier();  // every stage starts the step together
    StepResult r = run_pipeline_step(stage, batch, options);
    if (step < a.warmup) continue;
    busy += r.busy_seconds / a.steps;
    wall += r.wall_seconds / a.steps;
    peak = std::max(peak, r.peak_activation_bytes);
    for (const auto& t : r.timings) {
      if (t.instruction.kind == InstructionKind::Forward) fwd += (t.end - t.start) / (a.steps * m);
      if (t.instruction.kind == InstructionKind::Backward) bwd += (t.end - t.start) / (a.steps * m);
    }
    last = std::move(r);
  }
  const auto stats = world.allgather(torch::tensor({busy, wall, fwd, bwd, double(peak)},
                                                   torch::kFloat64));
  std::vector<TimelineCell> cells;
  if (m == a.svg_micro_batches && !recompute) cells = gather_cells(world, last, m);
  if (world.rank() != 0) return;

  const int p = world.size();
  nlohmann::json busy_s, idle_s, peak_b;
  double makespan = 0, total_busy = 0, mean_f = 0, mean_b = 0;
  std::vector<double> stage_f, stage_b;
  for (const auto& s : stats) makespan = std::max(makespan, s[1].item<double>());
  for (const auto& s : stats) {
    busy_s.push_back(s[0].item<double>());
    idle_s.push_back(makespan - s[0].item<double>());
    peak_b.push_back(static_cast<int64_t>(s[4].item<double>()));
    total_busy += s[0].item<double>();
    stage_f.push_back(s[2].item<double>());
    stage_b.push_back(s[3].item<double>());
    mean_f += stage_f.back() / p;
    mean_b += stage_b.back() / p;
  }
  const double measured = 1 - total_busy / (p * makespan);
  const double theory = theoretical_bubble(p, m);
  const Simulation sim = simulate(make_schedule(schedule, p, m), mean_f, mean_b);
  // The stages as measured, each at its own speed, with messages free: the gap
  // from the measured step is what messages and waiting for them cost.
  const Simulation staged = simulate(make_schedule(schedule, p, m), stage_f, stage_b);
  nlohmann::json j = {{"bench", "pipeline_bubble"},
                      {"model", a.model},
                      {"widths", a.widths},
                      {"stages", p},
                      {"schedule", to_string(schedule)},
                      {"micro_batches", m},
                      {"recompute", recompute},
                      {"batch", a.batch},
                      {"partition", a.partition},
                      {"step_s", makespan},
                      {"samples_per_s", a.batch / makespan},
                      {"busy_s", busy_s},
                      {"idle_s", idle_s},
                      {"forward_s", mean_f},
                      {"backward_s", mean_b},
                      {"bubble_measured", measured},
                      {"bubble_theory", theory},
                      {"bubble_simulated", sim.bubble_fraction},
                      {"forward_s_per_stage", stage_f},
                      {"backward_s_per_stage", stage_b},
                      {"step_simulated_stages_s", staged.makespan},
                      {"bubble_simulated_stages", staged.bubble_fraction},
                      {"measured_over_theory", theory > 0 ? measured / theory : 0.0},
                      {"peak_activation_bytes", peak_b}};
  std::cout << j.dump() << std::endl;
  if (!cells.empty()) {
    const std::string name =
        fmt::format("{}/timeline_{}_{}_P{}_M{}.svg", a.out, a.model, to_string(schedule), p, m);
    std::ofstream(name) << render_timeline_svg(
        cells, p, fmt::format("{} {} P={} M={} batch {} (one step, seconds)", a.model,
                              to_string(schedule), p, m, a.batch));
    std::cerr << "wrote " << name << "\n";
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "Pipeline bubble of GPipe and 1F1B, one process per stage (run under cohort launch)"};
  Args a;
  add_options(app, a);
  CLI11_PARSE(app, argc, argv);
  try {
    apply_heap_option(a.heap);
    torch::set_num_threads(1);  // one core per stage: stages must not steal each other's
    const auto world = init_world(world_info_from_environment());
    if (world->rank() == 0) std::filesystem::create_directories(a.out);
    ModelSpec spec;
    spec.name = a.model;
    spec.widths = a.widths;
    torch::manual_seed(0);
    auto model = build_model(spec);
    torch::manual_seed(1);
    const Batch batch{torch::randn({a.batch, 1, 28, 28}),
                      torch::randint(0, 10, {a.batch}, torch::kInt64)};
    const Partition part = agree_partition(*world, model, parse_partition_method(a.partition),
                                           batch.inputs.narrow(0, 0, a.batch / a.micro_batches.back()));
    PipelineStage stage(stage_layers(model, part, world->rank()), world);
    for (auto schedule : {ScheduleKind::GPipe, ScheduleKind::OneFOneB}) {
      for (int m : a.micro_batches) run_config(*world, stage, batch, a, schedule, m, false);
      run_config(*world, stage, batch, a, schedule, a.micro_batches.back(), true);
    }
    return 0;
  } catch (const Error& e) {
    std::cerr << "pipeline_bubble: " << e.what() << "\n";
    return e.exit_code();
  }
}
