// Faults on purpose, for the reliability tests and nothing else: with
//   COHORT_INJECT_FAULT="rank=R,step=S,at=step|checkpoint[,once=FILE][,signal=kill|stop]"
// global rank R kills itself with SIGKILL (no handler, no flush: as a crash or
// the OOM killer would) when it reaches `at` for step S: the start of step S
// (0-based; for a parameter server: after its S-th applied push), or the middle
// of writing the checkpoint of step S (state.pt written, manifest not yet).
// With once=FILE the fault fires only if FILE does not exist, and creates it,
// so a restarted group gets past the point. signal=stop raises SIGSTOP instead:
// the rank holds still at a known step while a test damages its run folder,
// then continues (SIGCONT) or dies (SIGKILL) as the test decides.
#pragma once

#include <cstdint>

namespace cohort {

void fault_point(const char* at, int64_t step);

}  // namespace cohort
