// `cohort train` with parallel.pipeline = P, alone and on a data x pipeline mesh,
// against one process with the same global batch, end to end through the CLI and
// the launcher; and checkpoints written under one layout resumed under another.
#include <filesystem>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "train/record/run_dir.h"
#include "train_harness.h"

namespace cohort {
namespace {

using test::TempRunDir;

// Momentum and clipping make the comparison cover the optimiser state the stages
// keep and the gradient norm they must agree on across stages.
std::string layout(int data, int pipeline, int per_replica_batch, const std::string& extra) {
  return fmt::format("--nproc {} --set parallel.data={} --set parallel.pipeline={} "
                     "--set train.batch_size={} --set network.0.momentum=0.9 "
                     "--set network.0.grad_clip=0.5 {}",
                     data * pipeline, data, pipeline, per_replica_batch, extra);
}

// Micro-batch losses are scaled by their share of the batch, so the accumulated
// gradients are the whole batch's up to float32 summation order (~1e-7 relative
// per step); 20 momentum steps keep weights of magnitude ~0.1 within 1e-5.
TEST(TrainPipeline, TwoStagesEqualOneProcess) {
  TempRunDir single, piped;
  test::train_ok(test::train_mlp(single.path, layout(1, 1, 32, "--set train.max_steps=20")));
  test::train_ok(test::train_mlp(piped.path, layout(1, 2, 32, "--set train.max_steps=20 "
                                                        "--set parallel.micro_batches=4 "
                                                        "--set parallel.schedule=1f1b")));
  test::expect_same_weights(single.path, piped.path, 1e-5);
  // The last stage's accuracy reaches the leader's metrics: the same batches
  // through the same weights, so the same counts (a near-tie in argmax may flip
  // one sample of 32).
  auto train_accuracy = [](const std::string& dir) {
    std::vector<double> out;
    std::istringstream lines(read_file(dir + "/metrics.jsonl"));
    for (std::string line; std::getline(lines, line);) {
      const auto r = nlohmann::json::parse(line);
      if (r["kind"] == "train") out.push_back(r["accuracy"]);
    }
    return out;
  };
  const auto a = train_accuracy(single.path), b = train_accuracy(piped.path);
  ASSERT_EQ(a.size(), b.size());
  ASSERT_FALSE(a.empty());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1.0 / 32 / 10 + 1e-9);
  // The run draws one step's timeline and records the bubble it measured.
  EXPECT_NE(read_file(piped.path + "/timeline.svg").find("<svg"), std::string::npos);
  const std::string metrics = read_file(piped.path + "/metrics.jsonl");
  EXPECT_NE(metrics.find("\"kind\":\"pipeline\""), std::string::npos) << metrics;
}

// Two replicas of a two-stage pipeline: replica r's shard of batch b and the
// other's make up the single process's batch b of 2B (strided shards), and each
// stage averages its gradients with the same stage of the other replica.
TEST(TrainPipeline, TwoByTwoMeshEqualsOneProcessWithTheWholeBatch) {
  TempRunDir single, mesh;
  test::train_ok(test::train_mlp(single.path, layout(1, 1, 32, "--set train.max_steps=20")));
  test::train_ok(test::train_mlp(mesh.path, layout(2, 2, 16, "--set train.max_steps=20 "
                                                       "--set parallel.micro_batches=2 "
                                                       "--set parallel.schedule=gpipe "
                                                       "--set parallel.partition=time")));
  test::expect_same_weights(single.path, mesh.path, 1e-5);
}

// The checkpoint holds the whole network (each stage's layers gathered to the
// leader), so 10 steps as 2x2 then 10 more as 1x4 or 4x1, with the same global
// batch, follow the single process's 20 steps.
TEST(TrainPipeline, CheckpointsResumeUnderAnotherLayout) {
  TempRunDir reference;
  test::train_ok(test::train_mlp(reference.path, layout(1, 1, 32, "--set train.max_steps=20")));
  struct Target {
    int data, pipeline, batch;
  };
  for (const Target t : {Target{1, 4, 32}, Target{4, 1, 8}}) {
    SCOPED_TRACE(fmt::format("resumed as {}x{}", t.data, t.pipeline));
    TempRunDir run;
    test::train_ok(test::train_mlp(run.path, layout(2, 2, 16, "--set train.max_steps=10 "
                                                        "--set parallel.micro_batches=2")));
    ASSERT_EQ(load_checkpoint(run.path).step, 10);
    test::train_ok(fmt::format("{} train --resume {} --quiet {}", COHORT_BIN, run.path,
                         layout(t.data, t.pipeline, t.batch, "--set train.max_steps=20 "
                                                             "--set parallel.micro_batches=4")));
    ASSERT_EQ(load_checkpoint(run.path).step, 20);
    test::expect_same_weights(reference.path, run.path, 1e-5);
  }
}

TEST(TrainPipeline, MoreStagesThanLayersIsRejectedBeforeAnyWorkerStarts) {
  const auto run = test::run_shell(
      test::train_mlp("/nonexistent/never-made", layout(1, 8, 32, "")), 60);
  EXPECT_EQ(run.exit_code, 2) << run.output;
  EXPECT_NE(run.output.find("use at most 6 stages"), std::string::npos) << run.output;
  EXPECT_EQ(run.output.find("[rank"), std::string::npos) << "a worker started:\n" << run.output;
}

}  // namespace
}  // namespace cohort
