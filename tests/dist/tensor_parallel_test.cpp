// Tensor-parallel layers (cohort/tensor_parallel.h) on real processes over Gloo
// on loopback: T ranks of this binary run tensor_parallel_worker.cpp, each
// checking itself against the whole model, and every rank must exit cleanly.
#include <gtest/gtest.h>

#include <cstdio>

#include "dist/ddp_processes.h"

namespace cohort::test {
namespace {

class TensorParallelEquivalence : public ::testing::TestWithParam<int> {};

TEST_P(TensorParallelEquivalence, MatchesTheWholeModel) {
  const auto results = run_ranks(GetParam(), "tensor-parallel", std::chrono::seconds(180),
                                 "TensorParallelWorker.Run");
  expect_every_rank_passed(results);
}

INSTANTIATE_TEST_SUITE_P(Degrees, TensorParallelEquivalence, ::testing::Values(2, 4));

}  // namespace
}  // namespace cohort::test
