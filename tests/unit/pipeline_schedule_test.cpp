#include <gtest/gtest.h>

#include <algorithm>

#include "cohort/error.h"
#include "cohort/pipeline/schedule.h"

using namespace cohort;

namespace {

int count(const std::vector<Instruction>& list, InstructionKind kind) {
  return static_cast<int>(std::count_if(list.begin(), list.end(),
                                        [&](const Instruction& i) { return i.kind == kind; }));
}

}  // namespace

TEST(PipelineSchedule, OneFOneBPhaseCountsFollowMegatron) {
  // P = 4, M = 8: stage 0 warms up with 3 forwards, the last stage with none.
  EXPECT_EQ(one_f_one_b_phases(4, 0, 8).warmup, 3);
  EXPECT_EQ(one_f_one_b_phases(4, 0, 8).steady, 5);
  EXPECT_EQ(one_f_one_b_phases(4, 0, 8).cooldown, 3);
  EXPECT_EQ(one_f_one_b_phases(4, 3, 8).warmup, 0);
  EXPECT_EQ(one_f_one_b_phases(4, 3, 8).steady, 8);
  // Fewer micro-batches than the pipe is deep: warm-up is capped by M.
  EXPECT_EQ(one_f_one_b_phases(4, 0, 2).warmup, 2);
  EXPECT_EQ(one_f_one_b_phases(4, 0, 2).steady, 0);
  EXPECT_EQ(one_f_one_b_phases(4, 0, 2).cooldown, 2);
}

TEST(PipelineSchedule, OneFOneBListsHaveThePhasesInOrder) {
  const auto list = stage_instructions(ScheduleKind::OneFOneB, 3, 0, 4);
  using K = InstructionKind;
  // Stage 0 of 3: warm-up F0 F1, steady F2 B0 F3 B1, cool-down B2 B3.
  std::vector<Instruction> expected = {
      {K::Forward, 0}, {K::SendActivation, 0}, {K::Forward, 1}, {K::SendActivation, 1},
      {K::Forward, 2}, {K::SendActivation, 2}, {K::RecvGrad, 0},  {K::Backward, 0},
      {K::Forward, 3}, {K::SendActivation, 3}, {K::RecvGrad, 1},  {K::Backward, 1},
      {K::RecvGrad, 2}, {K::Backward, 2},      {K::RecvGrad, 3},  {K::Backward, 3},
      {K::OptimizerStep, -1}};
  EXPECT_EQ(list, expected);
}

TEST(PipelineSchedule, EveryListRunsEachMicroBatchOnceAndEndsWithTheStep) {
  for (auto kind : {ScheduleKind::GPipe, ScheduleKind::OneFOneB}) {
    for (int p = 1; p <= 4; ++p) {
      for (int m = 1; m <= 8; ++m) {
        const Schedule sched = make_schedule(kind, p, m);
        ASSERT_EQ(static_cast<int>(sched.size()), p);
        for (int s = 0; s < p; ++s) {
          const auto& list = sched[s];
          SCOPED_TRACE(to_string(kind) + " P=" + std::to_string(p) + " M=" + std::to_string(m) +
                       " stage " + std::to_string(s));
          EXPECT_EQ(count(list, InstructionKind::Forward), m);
          EXPECT_EQ(count(list, InstructionKind::Backward), m);
          EXPECT_EQ(count(list, InstructionKind::RecvActivation), s > 0 ? m : 0);
          EXPECT_EQ(count(list, InstructionKind::SendActivation), s < p - 1 ? m : 0);
          EXPECT_EQ(count(list, InstructionKind::RecvGrad), s < p - 1 ? m : 0);
          EXPECT_EQ(count(list, InstructionKind::SendGrad), s > 0 ? m : 0);
          EXPECT_EQ(list.back(), (Instruction{InstructionKind::OptimizerStep, -1}));
          // A micro-batch's backward always comes after its forward.
          for (int mb = 0; mb < m; ++mb) {
            auto f = std::find(list.begin(), list.end(), Instruction{InstructionKind::Forward, mb});
            auto b = std::find(list.begin(), list.end(), Instruction{InstructionKind::Backward, mb});
            EXPECT_LT(f, b);
          }
        }
      }
    }
  }
}

TEST(PipelineSchedule, SimulationNeverDeadlocksAndMatchesTheoreticalBubble) {
  for (auto kind : {ScheduleKind::GPipe, ScheduleKind::OneFOneB}) {
    for (int p = 1; p <= 4; ++p) {
      for (int m = 1; m <= 8; ++m) {
        SCOPED_TRACE(to_string(kind) + " P=" + std::to_string(p) + " M=" + std::to_string(m));
        for (double backward_time : {1.0, 2.0}) {
          const Simulation sim = simulate(make_schedule(kind, p, m), 1, backward_time);
          ASSERT_FALSE(sim.deadlocked) << sim.deadlock;
          EXPECT_EQ(sim.unmatched_sends, 0);
          // Both schedules idle (P - 1) forward+backward slots per stage: the bubble
          // is (P - 1) / (M + P - 1) whatever the backward/forward ratio.
          EXPECT_NEAR(sim.bubble_fraction, theoretical_bubble(p, m), 1e-12);
          EXPECT_DOUBLE_EQ(sim.makespan, (m + p - 1) * (1 + backward_time));
          for (int s = 0; s < p; ++s) EXPECT_DOUBLE_EQ(sim.busy[s], m * (1 + backward_time));
        }
        const Simulation sim = simulate(make_schedule(kind, p, m));
        for (int s = 0; s < p; ++s) {
          if (kind == ScheduleKind::GPipe) {
            EXPECT_EQ(sim.peak_activations[s], m) << "GPipe stores every micro-batch";
          } else {
            EXPECT_EQ(sim.peak_activations[s], std::min(p - s, m));
            EXPECT_LE(sim.peak_activations[s], p);
          }
        }
      }
    }
  }
}

TEST(PipelineSchedule, SimulatorDetectsADeadlock) {
  using K = InstructionKind;
  // Both stages wait for the other first: a real deadlock the simulator must see.
  Schedule bad = {{{K::RecvGrad, 0}, {K::Forward, 0}, {K::SendActivation, 0}},
                  {{K::RecvActivation, 0}, {K::Forward, 0}, {K::SendGrad, 0}}};
  const Simulation sim = simulate(bad);
  EXPECT_TRUE(sim.deadlocked);
  EXPECT_NE(sim.deadlock.find("stage 0 waits at recv_grad 0"), std::string::npos) << sim.deadlock;
}

// Stage 1 twice as slow as stage 0, 4 micro-batches: both schedules are a flow shop
// whose slow stage runs back to back, 2 x 4 x 2 units, framed by one forward and one
// backward of the fast stage: 18 units, not the 10 of balanced unit stages.
TEST(PipelineSchedule, SimulatesStagesOfTheirOwnSpeed) {
  for (ScheduleKind kind : {ScheduleKind::GPipe, ScheduleKind::OneFOneB}) {
    const Simulation sim = simulate(make_schedule(kind, 2, 4), {1, 2}, {1, 2});
    EXPECT_FALSE(sim.deadlocked);
    EXPECT_DOUBLE_EQ(sim.makespan, 18) << to_string(kind);
    EXPECT_DOUBLE_EQ(sim.busy[0], 8);
    EXPECT_DOUBLE_EQ(sim.busy[1], 16);
    EXPECT_NEAR(sim.bubble_fraction, 1.0 / 3, 1e-12);
  }
  const Simulation even =
      simulate(make_schedule(ScheduleKind::OneFOneB, 3, 5), {1, 1, 1}, {2, 2, 2});
  const Simulation scalar = simulate(make_schedule(ScheduleKind::OneFOneB, 3, 5), 1, 2);
  EXPECT_DOUBLE_EQ(even.makespan, scalar.makespan);
  EXPECT_THROW(simulate(make_schedule(ScheduleKind::GPipe, 2, 2), {1}, {1, 1}), InputError);
}

TEST(PipelineSchedule, RendersTheClockTable) {
  const Simulation gpipe = simulate(make_schedule(ScheduleKind::GPipe, 2, 3));
  EXPECT_EQ(render_timeline(gpipe.cells, 2),
            "stage 0 | F0 F1 F2 .. .. B0 B1 B2\n"
            "stage 1 | .. F0 F1 F2 B0 B1 B2 ..\n");
  const Simulation ofob = simulate(make_schedule(ScheduleKind::OneFOneB, 3, 4));
  EXPECT_EQ(render_timeline(ofob.cells, 3),
            "stage 0 | F0 F1 F2 .. .. B0 F3 B1 .. B2 .. B3\n"
            "stage 1 | .. F0 F1 .. B0 F2 B1 F3 B2 .. B3 ..\n"
            "stage 2 | .. .. F0 B0 F1 B1 F2 B2 F3 B3 .. ..\n");
}

TEST(PipelineSchedule, RejectsBadSizes) {
  EXPECT_THROW(make_schedule(ScheduleKind::GPipe, 0, 4), InputError);
  EXPECT_THROW(make_schedule(ScheduleKind::OneFOneB, 2, 0), InputError);
  EXPECT_THROW(parse_schedule("interleaved"), InputError);
  EXPECT_EQ(parse_schedule("1f1b"), ScheduleKind::OneFOneB);
}
