// Local SGD (Stich, "Local SGD Converges Fast and Communicates Little", ICLR
// 2019) and post-local SGD (Lin et al., "Don't Use Large Mini-Batches, Use Local
// SGD", ICLR 2020): replicas take their optimiser steps alone and average their
// parameters every H steps, so a slow network costs one allreduce per H steps
// instead of one per step; post-local SGD first trains synchronously (gradients
// averaged every step) and goes local after a switch step.
//
//   LocalSgdSchedule schedule{/*local_after=*/100, /*average_every=*/8};
//   for (step ...) {
//     ... backward; if (schedule.synchronous(step)) average gradients (DDP);
//     optimizer.step();
//     if (schedule.average_after(step)) average_parameters(*model, *comm);
//   }
#pragma once

#include <torch/nn/module.h>

#include <cstdint>

#include "cohort/comm.h"

namespace cohort {

struct LocalSgdSchedule {
  int64_t local_after = 0;    // steps 0 .. local_after - 1 are synchronous
  int64_t average_every = 8;  // H: after local_after, average after every H-th step

  bool synchronous(int64_t step) const { return step < local_after; }
  // Whether the parameters are averaged after step `step` (0-based).
  bool average_after(int64_t step) const {
    return !synchronous(step) && (step + 1 - local_after) % average_every == 0;
  }
};

// Replaces the module's parameters and floating-point buffers (batch-norm
// statistics) with their mean over the group: one allreduce of one flat
// tensor. Collective.
void average_parameters(torch::nn::Module& module, Communicator& comm);

}  // namespace cohort
