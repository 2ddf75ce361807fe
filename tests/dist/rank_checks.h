// What the rank sides of the data-parallel tests (ddp_worker.cpp,
// zero_worker.cpp) share: data a model can learn, and the checks that ranks
// agree with one another and with one process.
#pragma once

#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>

#include "cohort/comm.h"

namespace cohort::test {

// Inputs and labels from a fixed random linear teacher, so a model can learn them.
struct TeacherData {
  at::Tensor x, y;
};
inline TeacherData teacher_data(int64_t rows, int64_t inputs, int64_t classes, uint64_t seed) {
  auto gen = at::detail::createCPUGenerator(seed);
  TeacherData d;
  d.x = at::randn({rows, inputs}, gen);
  d.y = at::mm(d.x, at::randn({inputs, classes}, gen)).argmax(1);
  return d;
}

// The largest difference between two models' parameters (same architecture).
inline double max_difference(torch::nn::Module& a, torch::nn::Module& b) {
  auto pa = a.parameters(), pb = b.parameters();
  double worst = 0;
  for (size_t i = 0; i < pa.size(); ++i)
    worst = std::max(worst, (pa[i] - pb[i]).abs().max().item<double>());
  return worst;
}

// Every rank holds rank 0's weights exactly (the same averaged update).
inline void expect_same_on_all_ranks(Communicator& comm, torch::nn::Module& net) {
  for (auto& p : net.parameters()) {
    at::Tensor root = p.detach().clone();
    comm.broadcast(root, 0);
    EXPECT_TRUE(at::equal(p.detach(), root)) << "rank " << comm.rank() << " differs from rank 0";
  }
}

}  // namespace cohort::test
