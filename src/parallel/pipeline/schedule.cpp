#include "cohort/pipeline/schedule.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <sstream>
#include <tuple>

#include "cohort/error.h"

namespace cohort {
namespace {

using K = InstructionKind;

// A forward on stage s: receive the activation (except on the first stage), run,
// pass it on (except on the last stage). A backward mirrors it with gradients.
void append_forward(std::vector<Instruction>& out, int stages, int stage, int mb) {
  if (stage > 0) out.push_back({K::RecvActivation, mb});
  out.push_back({K::Forward, mb});
  if (stage < stages - 1) out.push_back({K::SendActivation, mb});
}

void append_backward(std::vector<Instruction>& out, int stages, int stage, int mb) {
  if (stage < stages - 1) out.push_back({K::RecvGrad, mb});
  out.push_back({K::Backward, mb});
  if (stage > 0) out.push_back({K::SendGrad, mb});
}

void check_sizes(int stages, int micro_batches) {
  if (stages < 1) throw InputError("pipeline: need at least 1 stage, got " + std::to_string(stages));
  if (micro_batches < 1) {
    throw InputError("pipeline: need at least 1 micro-batch, got " +
                     std::to_string(micro_batches) + "; set [parallel] micro_batches >= 1");
  }
}

}  // namespace

std::string to_string(InstructionKind kind) {
  switch (kind) {
    case K::RecvActivation: return "recv_activation";
    case K::Forward: return "forward";
    case K::SendActivation: return "send_activation";
    case K::RecvGrad: return "recv_grad";
    case K::Backward: return "backward";
    case K::SendGrad: return "send_grad";
    case K::OptimizerStep: return "optimizer_step";
  }
  return "?";
}

ScheduleKind parse_schedule(const std::string& name) {
  if (name == "gpipe") return ScheduleKind::GPipe;
  if (name == "1f1b") return ScheduleKind::OneFOneB;
  throw InputError("pipeline: unknown schedule '" + name + "'; choose gpipe or 1f1b");
}

std::string to_string(ScheduleKind kind) {
  return kind == ScheduleKind::GPipe ? "gpipe" : "1f1b";
}

Phases one_f_one_b_phases(int stages, int stage, int micro_batches) {
  check_sizes(stages, micro_batches);
  const int warmup = std::min(stages - stage - 1, micro_batches);
  return {warmup, micro_batches - warmup, warmup};
}

std::vector<Instruction> stage_instructions(ScheduleKind kind, int stages, int stage,
                                            int micro_batches) {
  check_sizes(stages, micro_batches);
  if (stage < 0 || stage >= stages) {
    throw InputError("pipeline: stage " + std::to_string(stage) + " outside 0.." +
                     std::to_string(stages - 1));
  }
  std::vector<Instruction> out;
  if (kind == ScheduleKind::GPipe) {
    for (int mb = 0; mb < micro_batches; ++mb) append_forward(out, stages, stage, mb);
    for (int mb = 0; mb < micro_batches; ++mb) append_backward(out, stages, stage, mb);
  } else {
    const Phases ph = one_f_one_b_phases(stages, stage, micro_batches);
    int next_forward = 0, next_backward = 0;
    for (int i = 0; i < ph.warmup; ++i) append_forward(out, stages, stage, next_forward++);
    for (int i = 0; i < ph.steady; ++i) {
      append_forward(out, stages, stage, next_forward++);
      append_backward(out, stages, stage, next_backward++);
    }
    for (int i = 0; i < ph.cooldown; ++i) append_backward(out, stages, stage, next_backward++);
  }
  out.push_back({K::OptimizerStep, -1});
  return out;
}

Schedule make_schedule(ScheduleKind kind, int stages, int micro_batches) {
  check_sizes(stages, micro_batches);
  Schedule s;
  for (int stage = 0; stage < stages; ++stage) {
    s.push_back(stage_instructions(kind, stages, stage, micro_batches));
  }
  return s;
}

Simulation simulate(const Schedule& schedule, double forward_time, double backward_time) {
  const size_t stages = schedule.size();
  return simulate(schedule, std::vector<double>(stages, forward_time),
                  std::vector<double>(stages, backward_time));
}

Simulation simulate(const Schedule& schedule, const std::vector<double>& forward_times,
                    const std::vector<double>& backward_times) {
  const int stages = static_cast<int>(schedule.size());
  if (forward_times.size() != schedule.size() || backward_times.size() != schedule.size())
    throw InputError("simulate: " + std::to_string(forward_times.size()) + " forward and " +
                     std::to_string(backward_times.size()) + " backward times for " +
                     std::to_string(stages) + " stages; give one of each per stage");
  Simulation sim;
  sim.busy.assign(stages, 0);
  sim.peak_activations.assign(stages, 0);
  // Messages in flight: (from stage, to stage, is_grad, micro-batch) -> arrival time.
  std::map<std::tuple<int, int, bool, int>, double> sent;
  std::vector<size_t> pc(stages, 0);
  std::vector<double> clock(stages, 0);
  std::vector<int> stored(stages, 0);

  bool progress = true;
  while (progress) {
    progress = false;
    for (int s = 0; s < stages; ++s) {
      while (pc[s] < schedule[s].size()) {
        const Instruction& in = schedule[s][pc[s]];
        if (in.kind == K::RecvActivation || in.kind == K::RecvGrad) {
          const bool grad = in.kind == K::RecvGrad;
          const auto key = std::make_tuple(grad ? s + 1 : s - 1, s, grad, in.micro_batch);
          const auto it = sent.find(key);
          if (it == sent.end()) break;  // blocked: visit the other stages first
          clock[s] = std::max(clock[s], it->second);
          sent.erase(it);
        } else if (in.kind == K::SendActivation || in.kind == K::SendGrad) {
          const bool grad = in.kind == K::SendGrad;
          sent[std::make_tuple(s, grad ? s - 1 : s + 1, grad, in.micro_batch)] = clock[s];
        } else if (in.kind == K::Forward || in.kind == K::Backward) {
          const double d = in.kind == K::Forward ? forward_times[s] : backward_times[s];
          sim.cells.push_back({s, in.kind, in.micro_batch, clock[s], clock[s] + d});
          clock[s] += d;
          sim.busy[s] += d;
          stored[s] += in.kind == K::Forward ? 1 : -1;
          sim.peak_activations[s] = std::max(sim.peak_activations[s], stored[s]);
        }
        ++pc[s];
        progress = true;
      }
    }
  }
  for (int s = 0; s < stages; ++s) {
    if (pc[s] < schedule[s].size()) {
      const Instruction& in = schedule[s][pc[s]];
      sim.deadlocked = true;
      sim.deadlock += "stage " + std::to_string(s) + " waits at " + to_string(in.kind) + " " +
                      std::to_string(in.micro_batch) + "; ";
    }
    sim.makespan = std::max(sim.makespan, clock[s]);
  }
  sim.unmatched_sends = static_cast<int>(sent.size());
  double total_busy = 0;
  for (double b : sim.busy) total_busy += b;
  if (sim.makespan > 0) sim.bubble_fraction = 1 - total_busy / (stages * sim.makespan);
  return sim;
}

double theoretical_bubble(int stages, int micro_batches) {
  return static_cast<double>(stages - 1) / (micro_batches + stages - 1);
}

std::string render_timeline(const std::vector<TimelineCell>& cells, int stages, double unit) {
  double end = 0;
  for (const auto& c : cells) end = std::max(end, c.end);
  const int columns = static_cast<int>(std::ceil(end / unit - 1e-9));
  std::vector<std::vector<std::string>> grid(stages, std::vector<std::string>(columns, ".."));
  for (const auto& c : cells) {
    const int from = static_cast<int>(std::floor(c.start / unit + 1e-9));
    const int to = std::max(from + 1, static_cast<int>(std::ceil(c.end / unit - 1e-9)));
    // fmt rather than "F" + std::string: GCC 12 warns falsely on the latter in
    // C++20 at -O3 (-Wstringop-overflow, GCC bug 105329).
    const std::string label = fmt::format("{}{}", c.kind == K::Forward ? 'F' : 'B', c.micro_batch);
    for (int col = from; col < std::min(to, columns); ++col) grid[c.stage][col] = label;
  }
  size_t width = 2;
  for (const auto& row : grid) {
    for (const auto& cell : row) width = std::max(width, cell.size());
  }
  std::ostringstream out;
  for (int s = 0; s < stages; ++s) {
    out << "stage " << s << " |";
    for (const auto& cell : grid[s]) out << ' ' << std::string(width - cell.size(), ' ') << cell;
    out << '\n';
  }
  return out.str();
}

}  // namespace cohort
