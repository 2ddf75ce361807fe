// Pipeline schedules as data: for each stage, the ordered list of what it does in
// one training step. The executor runs these lists; the simulator runs them
// against each other on a clock to prove they cannot deadlock and to measure the
// bubble and the activation memory without starting a process.
#pragma once

#include <string>
#include <vector>

namespace cohort {

enum class InstructionKind {
  RecvActivation,  // from stage - 1 (stage 0 reads its micro-batch instead)
  Forward,
  SendActivation,  // to stage + 1
  RecvGrad,        // from stage + 1 (the last stage starts backward from its loss)
  Backward,
  SendGrad,        // to stage - 1
  OptimizerStep,   // once, after every backward (micro_batch = -1)
};
std::string to_string(InstructionKind kind);

struct Instruction {
  InstructionKind kind;
  int micro_batch;
  bool operator==(const Instruction& o) const {
    return kind == o.kind && micro_batch == o.micro_batch;
  }
};

enum class ScheduleKind {
  GPipe,     // fill-drain: every forward, then every backward (Huang et al. 2019)
  OneFOneB,  // PipeDream-flush: warm-up, one-forward-one-backward, cool-down
};
// "gpipe" | "1f1b"; anything else raises InputError listing them.
ScheduleKind parse_schedule(const std::string& name);
std::string to_string(ScheduleKind kind);

// The three phases of 1F1B on one stage (Narayanan et al. 2021, as in
// Megatron-LM's forward_backward_pipelining_without_interleaving):
//   warm-up   forwards only, to fill the pipe below this stage: min(P - s - 1, M)
//   steady    pairs of one forward then one backward:          M - warm-up
//   cool-down backwards only, draining what warm-up stored:     warm-up
// So stage s never holds more than warm-up + 1 <= P - s activations.
struct Phases {
  int warmup;
  int steady;
  int cooldown;
};
Phases one_f_one_b_phases(int stages, int stage, int micro_batches);

// Per-stage instruction lists, indexed by stage. Raises InputError for stages < 1
// or micro_batches < 1.
using Schedule = std::vector<std::vector<Instruction>>;
Schedule make_schedule(ScheduleKind kind, int stages, int micro_batches);
std::vector<Instruction> stage_instructions(ScheduleKind kind, int stages, int stage,
                                            int micro_batches);

// One compute cell of a simulated (or measured) timeline.
struct TimelineCell {
  int stage;
  InstructionKind kind;  // Forward or Backward
  int micro_batch;
  double start;
  double end;
};

struct Simulation {
  bool deadlocked = false;
  std::string deadlock;         // which stage waits for what, when deadlocked
  int unmatched_sends = 0;      // sends no stage ever received
  double makespan = 0;          // clock when the last stage finishes
  std::vector<double> busy;     // compute time per stage
  double bubble_fraction = 0;   // 1 - sum(busy) / (stages * makespan)
  std::vector<int> peak_activations;  // most micro-batches stored at once, per stage
  std::vector<TimelineCell> cells;
};

// Runs the lists against each other: compute takes forward_time / backward_time,
// sends are buffered (they never block) and arrive at once, a receive blocks until
// its matching send. Cells start as soon as their inputs are ready, so the result
// does not depend on the order stages are visited.
Simulation simulate(const Schedule& schedule, double forward_time = 1, double backward_time = 1);
// The same with each stage's own times (one entry per stage): what a pipeline of
// unbalanced stages would take if its messages cost nothing.
Simulation simulate(const Schedule& schedule, const std::vector<double>& forward_times,
                    const std::vector<double>& backward_times);

// The bubble of GPipe and 1F1B with equal forward and backward times:
// (P - 1) / (M + P - 1).
double theoretical_bubble(int stages, int micro_batches);

// A text table of the timeline, one row per stage and one column per time unit,
// like torchgpipe's clock_cycles comment:
//   stage 0 | F0 F1 F2 .. .. B0 B1 B2
//   stage 1 | .. F0 F1 F2 B0 B1 B2 ..
std::string render_timeline(const std::vector<TimelineCell>& cells, int stages,
                            double unit = 1);

// The same timeline as an SVG picture: a lane per stage, a box per forward
// (light) and backward (dark) labelled with its micro-batch, a time axis in the
// cells' unit (seconds when measured).
std::string render_timeline_svg(const std::vector<TimelineCell>& cells, int stages,
                                const std::string& title);

}  // namespace cohort
