// train.timeline = true: one Chrome trace per run with every rank's spans.
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "cohort/tensorboard.h"
#include "train_harness.h"

namespace cohort {
namespace {

// (rank, first word of the span name) -> count
std::map<std::pair<int, std::string>, int> spans_of(const std::string& run_dir) {
  std::ifstream in(run_dir + "/trace.json");
  const auto trace = nlohmann::json::parse(in);
  std::map<std::pair<int, std::string>, int> counts;
  for (const auto& e : trace.at("traceEvents")) {
    if (e.at("ph") != "X") continue;
    const std::string name = e.at("name");
    ++counts[{e.at("pid").get<int>(), name.substr(0, name.find(' '))}];
  }
  return counts;
}

TEST(TrainTrace, DataParallelRunsTraceEveryRanksComputeAndBuckets) {
  test::TempRunDir run;
  ASSERT_NO_FATAL_FAILURE(test::train_ok(test::train_mlp(run.path,
                                                         "--nproc 2 --set parallel.data=2 "
                                                         "--set train.max_steps=10 "
                                                         "--set train.timeline=true")));
  auto spans = spans_of(run.path);
  for (int rank : {0, 1}) {
    EXPECT_EQ((spans[{rank, "forward"}]), 10) << rank;
    EXPECT_EQ((spans[{rank, "backward"}]), 10) << rank;
    EXPECT_GE((spans[{rank, "allreduce"}]), 10) << rank;  // at least one bucket a step
  }
  EXPECT_EQ((spans[{0, "evaluate"}]), 1);
}

TEST(TrainTrace, PipelineRunsTraceSendsAndReceives) {
  test::TempRunDir run;
  ASSERT_NO_FATAL_FAILURE(test::train_ok(test::train_mlp(run.path,
                                                         "--nproc 2 --set parallel.pipeline=2 "
                                                         "--set parallel.micro_batches=2 "
                                                         "--set train.max_steps=10 "
                                                         "--set train.timeline=true")));
  auto spans = spans_of(run.path);
  EXPECT_EQ((spans[{0, "send_activation"}]), 20);
  EXPECT_EQ((spans[{1, "recv_activation"}]), 20);
  EXPECT_EQ((spans[{1, "send_grad"}]), 20);
  EXPECT_EQ((spans[{0, "forward"}]), 20);
  EXPECT_EQ((spans[{1, "backward"}]), 20);
}

TEST(TrainTrace, TensorBoardEventsFollowTheMetrics) {
  test::TempRunDir run;
  ASSERT_NO_FATAL_FAILURE(test::train_ok(test::train_mlp(run.path,
                                                         "--set train.max_steps=40 "
                                                         "--set train.log_every=20 "
                                                         "--set train.tensorboard=true")));
  const auto files = std::filesystem::directory_iterator(run.path + "/tensorboard");
  const std::string events = begin(files)->path().string();
  std::map<std::string, std::vector<int64_t>> steps;
  for (const auto& s : read_tensorboard_scalars(events)) steps[s.tag].push_back(s.step);
  EXPECT_EQ(steps["train/loss/mlp"], (std::vector<int64_t>{20, 40}));
  EXPECT_EQ(steps["train/accuracy/mlp"], (std::vector<int64_t>{20, 40}));
  EXPECT_EQ(steps["eval/test_accuracy/mlp"], (std::vector<int64_t>{40}));
}

TEST(TrainTrace, OffByDefault) {
  test::TempRunDir run;
  ASSERT_NO_FATAL_FAILURE(test::train_ok(test::train_mlp(run.path, "--set train.max_steps=3")));
  EXPECT_FALSE(std::filesystem::exists(run.path + "/trace.json"));
}

}  // namespace
}  // namespace cohort
