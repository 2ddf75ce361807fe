// `cohort train` with parallel.shard = 1, 2 and 3 (ZeRO, cohort/zero.h) against
// one process with the whole batch, end to end through the CLI and the
// launcher; checkpoints written from shards resumed under other layouts, and
// the other way round.
#include <fmt/format.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "train_harness.h"

namespace cohort {
// Named, not anonymous: a unity build compiles this file together with others.
namespace train_sharded_test {

using test::TempRunDir;

// AdamW with clipping that acts (the gradients' norm starts near 2), and a
// unit cap of 10 KiB: the mlp 784-64-32-10 is two units, {fc1.weight} and
// the rest (stage 3, whole layers: fc1 and the rest), all of even size, so
// at N = 2 each rank holds exactly half.
std::string layout(int data, int shard, int batch, const std::string& extra) {
  return fmt::format(
      "--nproc {} --set parallel.data={} --set parallel.shard={} --set train.batch_size={} "
      "--set network.0.optimizer=adamw --set network.0.lr=0.01 --set network.0.grad_clip=0.5 "
      "--set parallel.shard_unit_mb=0.01 {}",
      data, data, shard, batch, extra);
}

// Every tensor of the newest checkpoints, weights and optimiser state: the
// state is gathered from the shards, so it must be the one process's too.
// Tolerance as in train_data_parallel_test.cpp: float32 summation order, ~1e-7
// relative per step; AdamW's moments are of the gradients' scale or below.
void expect_same_state(const std::string& a_dir, const std::string& b_dir) {
  const auto a = load_checkpoint(a_dir).networks.at(0).tensors;
  const auto b = load_checkpoint(b_dir).networks.at(0).tensors;
  ASSERT_EQ(a.size(), b.size());
  size_t optimizer_tensors = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(a[i].first, b[i].first);
    if (a[i].first.rfind("optim.", 0) == 0) ++optimizer_tensors;
    if (!at::isFloatingType(a[i].second.scalar_type())) {
      EXPECT_TRUE(at::equal(a[i].second, b[i].second)) << a[i].first;
      continue;
    }
    const double diff = (a[i].second - b[i].second).abs().max().item<double>();
    EXPECT_LT(diff, 1e-5) << a[i].first;
  }
  EXPECT_GT(optimizer_tensors, 0u) << "no optimiser state in the checkpoint";
}

nlohmann::json last_train_record(const std::string& run_dir) {
  std::ifstream in(run_dir + "/metrics.jsonl");
  nlohmann::json last;
  for (std::string line; std::getline(in, line);) {
    const auto record = nlohmann::json::parse(line);
    if (record.value("kind", "") == "train") last = record;
  }
  return last;
}

nlohmann::json memory_of(const std::string& run_dir) {
  std::ifstream in(run_dir + "/summary.json");
  return nlohmann::json::parse(in).at("state_bytes").at(0);
}

TEST(TrainSharded, EveryStageEqualsOneProcessWithTheWholeBatch) {
  TempRunDir single;
  test::train_ok(test::train_mlp(single.path, layout(1, 0, 32, "--set train.max_steps=20")));
  const auto whole = memory_of(single.path);
  struct Case {
    int data, shard, batch;
  };
  for (const Case c :
       {Case{2, 1, 16}, Case{2, 2, 16}, Case{4, 2, 8}, Case{2, 3, 16}, Case{4, 3, 8}}) {
    SCOPED_TRACE(fmt::format("parallel.shard = {} on {} ranks", c.shard, c.data));
    TempRunDir run;
    test::train_ok(
        test::train_mlp(run.path, layout(c.data, c.shard, c.batch, "--set train.max_steps=20")));
    expect_same_state(single.path, run.path);
    const auto mine = memory_of(run.path);
    // The bytes of rank 0 against the one process's: the whole parameters
    // (1/N at stage 3), 1/N of AdamW's two moments, and 1/N of the gradients
    // from stage 2; more by the padding only, under N elements per unit (none
    // at N = 2: the units are of even size).
    const int64_t n = c.data, padding = 2 * (n - 1) * 4;
    auto bytes = [](const nlohmann::json& m, const char* kind) {
      return m.at(kind).get<int64_t>();
    };
    auto expect_within = [](int64_t value, int64_t exact, int64_t slack, const char* what) {
      EXPECT_GE(value, exact) << what;
      EXPECT_LE(value, exact + slack) << what;
    };
    expect_within((c.shard == 3 ? n : 1) * bytes(mine, "parameters"), bytes(whole, "parameters"),
                  padding, "parameters");
    expect_within(n * bytes(mine, "optimizer"), bytes(whole, "optimizer"), 2 * padding,
                  "optimiser state");
    expect_within((c.shard >= 2 ? n : 1) * bytes(mine, "gradients"), bytes(whole, "gradients"),
                  padding, "gradients");
  }
}

// 10 steps under one layout, 10 more under another, the same global batch:
// the one process's 20 steps, weights and optimiser state.
TEST(TrainSharded, CheckpointsResumeUnderAnotherLayout) {
  TempRunDir reference;
  test::train_ok(test::train_mlp(reference.path, layout(1, 0, 32, "--set train.max_steps=20")));
  struct Layout {
    int data, shard, batch;
  };
  const std::pair<Layout, Layout> moves[] = {
      {{4, 2, 8}, {2, 0, 16}},   // shards of 4 ranks to DDP on 2
      {{4, 2, 8}, {1, 0, 32}},   // to one process
      {{1, 0, 32}, {2, 1, 16}},  // one process's state split among 2 ranks
      {{4, 3, 8}, {2, 0, 16}},   // parameters sharded on 4 ranks to DDP on 2
      {{4, 3, 8}, {1, 0, 32}},   // to one process
      {{2, 0, 16}, {2, 3, 16}},  // DDP's state, parameters and all, sharded
  };
  for (const auto& [from, to] : moves) {
    SCOPED_TRACE(fmt::format("{} ranks, shard {} -> {} ranks, shard {}", from.data, from.shard,
                             to.data, to.shard));
    TempRunDir run;
    test::train_ok(test::train_mlp(
        run.path, layout(from.data, from.shard, from.batch, "--set train.max_steps=10")));
    ASSERT_EQ(load_checkpoint(run.path).step, 10);
    test::train_ok(fmt::format("{} train --resume {} --quiet {}", COHORT_BIN, run.path,
                               layout(to.data, to.shard, to.batch, "--set train.max_steps=20")));
    ASSERT_EQ(load_checkpoint(run.path).step, 20);
    expect_same_state(reference.path, run.path);
  }
}

// The weights' distance between two runs, relative to the first's norm.
double relative_distance(const std::string& a_dir, const std::string& b_dir) {
  const auto a = load_checkpoint(a_dir).networks.at(0).tensors;
  const auto b = load_checkpoint(b_dir).networks.at(0).tensors;
  double apart = 0, size = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].first.rfind("optim.", 0) == 0 || !at::isFloatingType(a[i].second.scalar_type()))
      continue;
    apart += (a[i].second - b[i].second).pow(2).sum().item<double>();
    size += a[i].second.pow(2).sum().item<double>();
  }
  return std::sqrt(apart / size);
}

// parallel.comm_hook = "fp16" reduces each unit in half precision, as DDP's
// hook reduces each bucket, element by element: the sharded run follows DDP's
// compressed trajectory, not the one process's. Not bitwise: fp16 turns the
// float32 reassociation between the two (1e-7) into a flipped rounding now
// and then, and AdamW moves an element by about lr whatever its gradient's
// size, so over 20 steps at lr 0.01 the compressed runs lie 1.4% from the
// one process and far closer to each other.
TEST(TrainSharded, CompressedUnitsFollowDdpsCompressedRun) {
  TempRunDir single, ddp, sharded;
  const std::string fp16 = "--set train.max_steps=20 --set parallel.comm_hook=fp16";
  test::train_ok(test::train_mlp(single.path, layout(1, 0, 32, "--set train.max_steps=20")));
  test::train_ok(test::train_mlp(ddp.path, layout(2, 0, 16, fp16)));
  test::train_ok(test::train_mlp(sharded.path, layout(2, 2, 16, fp16)));
  const double compression = relative_distance(single.path, ddp.path);
  const double to_ddp = relative_distance(ddp.path, sharded.path);
  std::printf("fp16: ZeRO 2 %.3g from DDP, DDP %.3g from one process (relative)\n", to_ddp,
              compression);
  EXPECT_GT(compression, 1e-4) << "the fp16 hook changed nothing";
  EXPECT_LT(to_ddp, 0.25 * compression);
  EXPECT_GT(relative_distance(single.path, sharded.path), 0.5 * compression);
}

// 2 replicas x 2 pipeline stages (1F1B, 2 micro-batches), each stage's
// replicas sharding its AdamW state (ZeRO 1; ZeRO 2: and gradients), clipping
// at 0.5 by the norm over shards and stages: every checkpoint tensor that of
// the same layout under DDP (which TrainPipeline holds to one process; here,
// AdamW at lr 0.01 turns the micro-batches' summation order into 1.2e-5 on one
// weight after 20 steps, sharded or not, so DDP is the sharper reference: the
// runs measured equal); and 10 steps sharded, 10 more under DDP, from the
// checkpoint gathered from the shards of both stages, and the other way.
TEST(TrainSharded, PipelineStagesShardAmongTheirReplicas) {
  auto stages = [](int shard, int steps) {
    return fmt::format(
        "--nproc 4 --set parallel.data=2 --set parallel.pipeline=2 --set parallel.micro_batches=2 "
        "--set parallel.shard={} --set train.batch_size=16 --set network.0.optimizer=adamw "
        "--set network.0.lr=0.01 --set network.0.grad_clip=0.5 --set parallel.shard_unit_mb=0.01 "
        "--set train.max_steps={}",
        shard, steps);
  };
  TempRunDir ddp;
  test::train_ok(test::train_mlp(ddp.path, stages(0, 20)));
  for (int shard : {1, 2}) {
    SCOPED_TRACE(fmt::format("ZeRO {}", shard));
    TempRunDir run;
    test::train_ok(test::train_mlp(run.path, stages(shard, 20)));
    expect_same_state(ddp.path, run.path);
    EXPECT_GT(last_train_record(run.path).at("comm_seconds").get<double>(), 0)
        << "the sharded stages' reductions were not metered";
  }
  for (auto [from, to] : {std::pair{2, 0}, {0, 1}}) {
    SCOPED_TRACE(fmt::format("ZeRO {} -> ZeRO {}", from, to));
    TempRunDir resumed;
    test::train_ok(test::train_mlp(resumed.path, stages(from, 10)));
    test::train_ok(
        fmt::format("{} train --resume {} --quiet {}", COHORT_BIN, resumed.path, stages(to, 20)));
    expect_same_state(ddp.path, resumed.path);
  }
}

TEST(TrainSharded, LayoutsItCannotShardAreRefusedBeforeAnyWorkerStarts) {
  const std::pair<std::string, std::string> cases[] = {
      {layout(2, 3, 16, "--set parallel.pipeline=2"),
       "pipeline stages shard their optimiser state and gradients"},
      {layout(2, 1, 16, "--set parallel.mode=local-sgd"), "parallel.mode = 'local-sgd'"},
      {layout(2, 2, 16, "--set parallel.comm_hook=powersgd"),
       "keeps a whole gradient of error feedback"},
  };
  for (const auto& [args, message] : cases) {
    const auto run = test::run_shell(test::train_mlp("/nonexistent/never-made", args), 60);
    EXPECT_EQ(run.exit_code, 2) << run.output;
    EXPECT_NE(run.output.find(message), std::string::npos) << run.output;
    EXPECT_EQ(run.output.find("[rank"), std::string::npos) << "a worker started:\n" << run.output;
  }
}

}  // namespace train_sharded_test
}  // namespace cohort
