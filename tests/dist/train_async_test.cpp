// Parameter servers and local SGD through `cohort train --nproc`, each against
// the single-process computation it claims to equal, and the staleness bound
// measured by the servers themselves.
#include <fstream>
#include <nlohmann/json.hpp>

#include "train_harness.h"

namespace cohort {
namespace {

using test::TempRunDir;

std::string mlp(const std::string& out, const std::string& args) {
  return test::train_mlp(out, "--set 'network.0.widths=[64]' --set train.max_steps=20 " + args);
}

nlohmann::json summary_of(const std::string& run_dir) {
  std::ifstream in(run_dir + "/summary.json");
  return nlohmann::json::parse(in);
}

// With s = 0 every worker computes step t from the parameters after all pushes
// of step t-1 and none of step t. With plain SGD (momentum 0) the two pushes,
// each applied as gradient / 2, sum to one step with the mean gradient of the
// 32-sample batch the single process takes (the workers' strided shards are
// its two halves); what differs is float32 addition order, ~1e-7 relative per
// step, far below 1e-5 after 20 steps on weights of ~0.05. Two servers, so the
// sharding is exercised too.
TEST(TrainAsync, BoundZeroEqualsSynchronousSgd) {
  TempRunDir single, ps;
  const std::string plain = " --set network.0.momentum=0";
  ASSERT_NO_FATAL_FAILURE(test::train_ok(mlp(single.path, "--set train.batch_size=32" + plain)));
  ASSERT_NO_FATAL_FAILURE(
      test::train_ok(mlp(ps.path,
                         "--nproc 4 --set parallel.mode=async --set parallel.servers=2 "
                         "--set parallel.data=2 --set parallel.staleness=0 "
                         "--set train.batch_size=16" +
                             plain)));
  test::expect_same_weights(single.path, ps.path, 1e-5);
  const auto async = summary_of(ps.path).at("async");
  EXPECT_EQ(async.at("max_lead"), 0);
  EXPECT_EQ(async.at("pushes"), 2 * 2 * 20);  // 2 workers x 2 servers x 20 steps
}

// One worker: the server's optimiser takes exactly the steps the single
// process's would, momentum, weight decay and clipping included (the worker
// clips before it pushes), on the same tensors' values. Only where the values
// live differs, so the tolerance is float32 rounding.
TEST(TrainAsync, OneWorkerEqualsSingleProcessSgd) {
  TempRunDir single, ps;
  const std::string options =
      " --set network.0.weight_decay=0.0005 --set network.0.grad_clip=0.5 "
      "--set network.0.schedule=cosine --set network.0.warmup_steps=3";
  ASSERT_NO_FATAL_FAILURE(test::train_ok(mlp(single.path, options)));
  ASSERT_NO_FATAL_FAILURE(
      test::train_ok(mlp(ps.path,
                         "--nproc 2 --set parallel.mode=async --set parallel.servers=1 "
                         "--set parallel.data=1" +
                             options)));
  test::expect_same_weights(single.path, ps.path, 1e-6);
}

// Worker 1's every message waits 20 ms, so worker 0 would run far ahead: with
// s = 1 the servers must hold it back, and what they report must say so. The
// unbounded run shows that the same measurement sees a larger lead.
TEST(TrainAsync, StalenessNeverExceedsTheBound) {
  const std::string slow_worker = "env COHORT_COMM_DELAY_MS=20 COHORT_COMM_DELAY_RANKS=1 ";
  auto run = [&](const std::string& out, int bound) {
    return slow_worker +
           mlp(out,
               "--nproc 3 --set parallel.mode=async --set parallel.servers=1 "
               "--set parallel.data=2 --set train.log_every=5 --set parallel.staleness=" +
                   std::to_string(bound));
  };
  TempRunDir bounded, free;
  ASSERT_NO_FATAL_FAILURE(test::train_ok(run(bounded.path, 1)));
  const auto async = summary_of(bounded.path).at("async");
  EXPECT_EQ(async.at("staleness_bound"), 1);
  EXPECT_LE(async.at("max_lead").get<int>(), 1);
  EXPECT_EQ(async.at("max_lead").get<int>(), 1) << "the slow worker never held the other back";
  std::ifstream metrics(bounded.path + "/metrics.jsonl");
  int records = 0;
  for (std::string line; std::getline(metrics, line);) {
    const auto record = nlohmann::json::parse(line);
    if (record.at("kind") != "train") continue;
    EXPECT_LE(record.at("staleness").get<int>(), 1) << line;
    ++records;
  }
  EXPECT_EQ(records, 4);

  ASSERT_NO_FATAL_FAILURE(test::train_ok(run(free.path, -1)));
  EXPECT_GT(summary_of(free.path).at("async").at("max_lead").get<int>(), 1);
}

// Averaging the parameters after every step of plain SGD is averaging the
// gradients: H = 1 with momentum 0 equals the single process with the double
// batch, up to float32 addition order (as above).
TEST(TrainLocalSgd, AveragingEveryStepEqualsSynchronousSgd) {
  TempRunDir single, local;
  const std::string plain = " --set network.0.momentum=0";
  ASSERT_NO_FATAL_FAILURE(test::train_ok(mlp(single.path, "--set train.batch_size=32" + plain)));
  ASSERT_NO_FATAL_FAILURE(
      test::train_ok(mlp(local.path,
                         "--nproc 2 --set parallel.mode=local-sgd --set parallel.data=2 "
                         "--set parallel.average_every=1 --set train.batch_size=16" +
                             plain)));
  test::expect_same_weights(single.path, local.path, 1e-5);
}

// Post-local SGD: synchronous steps first are DDP's, momentum and all; a switch
// after the last step is plain data parallelism.
TEST(TrainLocalSgd, SynchronousPhaseIsDataParallelism) {
  TempRunDir dp, post_local;
  const std::string two = "--nproc 2 --set parallel.data=2 --set train.batch_size=16 ";
  ASSERT_NO_FATAL_FAILURE(test::train_ok(mlp(dp.path, two)));
  ASSERT_NO_FATAL_FAILURE(test::train_ok(
      mlp(post_local.path, two + "--set parallel.mode=local-sgd --set parallel.local_after=20 "
                                 "--set parallel.average_every=4")));
  test::expect_same_weights(dp.path, post_local.path, 1e-7);
}

TEST(TrainAsync, ImpossibleLayoutsAreRejectedBeforeAnyWorkerStarts) {
  auto refused = [](const std::string& args, const std::string& hint) {
    auto run = test::run_shell(
        std::string(COHORT_BIN) +
            " train " COHORT_SOURCE_DIR "/examples/configs/mlp.toml --quiet " + args,
        60);
    EXPECT_EQ(run.exit_code, 2) << args << "\n" << run.output;
    EXPECT_NE(run.output.find(hint), std::string::npos) << run.output;
  };
  refused("--nproc 2 --set parallel.mode=async --set parallel.data=2", "parallel.servers = 1");
  refused("--nproc 2 --set parallel.mode=async --set parallel.servers=1 --set parallel.data=2",
          "--nproc 3");
  refused("--nproc 9 --set parallel.mode=async --set parallel.servers=7 --set parallel.data=2",
          "at most");
  refused("--set parallel.servers=1", "async");
}

}  // namespace
}  // namespace cohort

namespace cohort {
namespace {

std::string three_workers(const std::string& out) {
  return mlp(out,
             "--nproc 4 --set parallel.mode=async --set parallel.servers=1 "
             "--set parallel.data=3 --set train.max_steps=60");
}

// SIGKILL, as a crash or the OOM killer would: the servers retire the worker,
// the others finish the run, and the summary names who was lost.
TEST(TrainAsyncFaults, AWorkerThatDiesDoesNotStopTheOthers) {
  TempRunDir run_dir;
  auto run =
      test::run_shell("env COHORT_INJECT_FAULT=rank=2,step=10 " + three_workers(run_dir.path), 240);
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_NE(run.output.find("the job goes on without it"), std::string::npos) << run.output;
  // How many go on depends on whether a fast worker had already finished its
  // 60 steps when the server noticed (staleness is unbounded here).
  EXPECT_NE(run.output.find("worker 2 (rank 2) is gone; going on with"), std::string::npos)
      << run.output;
  const auto summary = summary_of(run_dir.path);
  EXPECT_EQ(summary.at("steps"), 60);
  EXPECT_EQ(summary.at("async").at("lost_workers"), nlohmann::json::array({2}));
  // Ranks 0 and 1 pushed all 60 steps, rank 2 its first 10.
  EXPECT_EQ(summary.at("async").at("pushes"), 60 + 60 + 10);
}

// A server's shard exists nowhere else: every worker stops, naming the cause,
// and nothing waits for a timeout.
TEST(TrainAsyncFaults, AServerThatDiesEndsTheJobWithAReason) {
  TempRunDir run_dir;
  auto run =
      test::run_shell("env COHORT_INJECT_FAULT=rank=3,step=30 " + three_workers(run_dir.path), 120);
  EXPECT_NE(run.exit_code, 0);
  EXPECT_NE(run.exit_code, 124) << "timed out instead of stopping";
  EXPECT_NE(run.output.find("lost its parameter servers"), std::string::npos) << run.output;
}

}  // namespace
}  // namespace cohort
