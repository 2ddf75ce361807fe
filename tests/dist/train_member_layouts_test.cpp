// Members with their own layouts ([[network]] data, pipeline and ranks) against the same
// cohort in one process, end to end through the CLI and the launcher. Every
// member sees the same global batch wherever it lives; a member with D
// replicas averages D equal shares of that batch's gradient (DDP), which
// differs from the one process's sum over the whole batch only in the order of
// float additions: weights after 20 steps within 1e-5, DDP's own tolerance
// (TrainDataParallel). Members on one replica compute the one process's
// operations on bit copies of the peers' logits, the sum of their rows. A
// pipelined member adds its micro-batches' gradients (each loss scaled by its
// share of the rows) where the one process takes the whole batch's at once:
// the same sum in another order, within the same 1e-5.
#include <fmt/format.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "cohort/config.h"
#include "train_harness.h"

namespace cohort {
namespace {

using test::expect_same_cohort;
using test::TempRunDir;

// Three mlps of different widths, batch 32, 20 steps; `extra` adds layouts.
std::string cohort_command(const std::string& out, const std::string& extra) {
  std::string args = "--set train.max_steps=20 --set train.batch_size=32 ";
  const char* widths[] = {"[64, 32]", "[32]", "[48]"};
  for (int k = 0; k < 3; ++k)
    args +=
        fmt::format("--set network.{0}.model=mlp --set 'network.{0}.widths={1}' ", k, widths[k]);
  return test::train_mlp(out, args + extra);
}

struct LayoutCase {
  const char* name;
  std::string method;
  std::string layout;
};

class TrainMemberLayouts : public ::testing::TestWithParam<LayoutCase> {};

TEST_P(TrainMemberLayouts, EachMemberFollowsTheOneProcessTrajectory) {
  const LayoutCase c = GetParam();
  TempRunDir single, placed;
  ASSERT_NO_FATAL_FAILURE(test::train_ok(cohort_command(single.path, c.method)));
  ASSERT_NO_FATAL_FAILURE(test::train_ok(cohort_command(placed.path, c.method + " " + c.layout)));
  expect_same_cohort(single.path, placed.path, 1e-5);
}

INSTANTIATE_TEST_SUITE_P(
    Placements, TrainMemberLayouts,
    ::testing::Values(
        // The wide mlp on both ranks, a small one alone on each: mutual learning
        // needs every member's logits on rows that another rank computed.
        LayoutCase{"mutual_wide_on_two", "--set cooperate.method=mutual",
                   "--nproc 2 --set network.0.data=2 --set 'network.1.ranks=[0]' "
                   "--set 'network.2.ranks=[1]'"},
        // Three ranks: the wide mlp on ranks 2 and 1 (its lead is rank 2, so the
        // leader receives it), two members sharing rank 0; codistillation's
        // weights every 5 steps and the wide mlp's optimiser state sharded
        // (ZeRO 2, AdamW).
        LayoutCase{"codistill_sharded_three_ranks",
                   "--set cooperate.method=codistill --set cooperate.exchange_every=5 "
                   "--set network.0.optimizer=adamw --set network.0.lr=0.003",
                   "--nproc 3 --set parallel.shard=2 --set 'network.0.ranks=[2, 1]' "
                   "--set 'network.1.ranks=[0]' --set 'network.2.ranks=[0]'"},
        // The wide mlp pipelined over two ranks, its first stage on rank 1 and
        // its last (which computes its loss) on rank 0, beside an mlp on each
        // rank: its micro-batches' losses take the others' predictions, sent
        // before its pipeline runs, and the others' take its own, sent after.
        LayoutCase{"mutual_pipelined_beside_two", "--set cooperate.method=mutual",
                   "--nproc 2 --set network.0.pipeline=2 --set 'network.0.ranks=[1, 0]' "
                   "--set 'network.1.ranks=[0]' --set 'network.2.ranks=[1]' "
                   "--set parallel.micro_batches=4"},
        // Two replicas of a two-stage pipeline (data 2 x pipeline 2) on four
        // ranks, a two-replica mlp on their last stages in the other order,
        // and one mlp on a first stage.
        LayoutCase{"mutual_replicated_pipeline_four_ranks", "--set cooperate.method=mutual",
                   "--nproc 4 --set network.0.pipeline=2 --set network.0.data=2 "
                   "--set 'network.1.ranks=[3, 1]' --set 'network.2.ranks=[0]' "
                   "--set parallel.micro_batches=2"},
        // Two pipelined members whose stages cross (rank 0 holds the first
        // stage of one and the last of the other) beside a whole one: each
        // pipeline runs in config order on every rank, so neither waits on
        // the other.
        // Codistillation every 5 steps with the wide mlp in three stages on
        // ranks 1, 2 and 0, each rank also training a whole member: its stages
        // are gathered on its lead (rank 1) before its weights are broadcast,
        // and every rank's stale copies are refreshed before any stage steps.
        LayoutCase{"codistill_pipelined_three_ranks",
                   "--set cooperate.method=codistill --set cooperate.exchange_every=5",
                   "--nproc 3 --set network.0.pipeline=3 --set 'network.0.ranks=[1, 2, 0]' "
                   "--set 'network.1.ranks=[2, 0]' --set 'network.2.ranks=[1]'"},
        LayoutCase{"ensemble_crossed_pipelines", "--set cooperate.method=ensemble",
                   "--nproc 2 --set network.0.pipeline=2 --set 'network.0.ranks=[0, 1]' "
                   "--set network.1.pipeline=2 --set 'network.1.ranks=[1, 0]' "
                   "--set 'network.2.ranks=[0]'"}),
    [](const auto& info) { return std::string(info.param.name); });

// 10 steps with the wide mlp on two ranks, 10 more with every member in one
// process, and the reverse: the uninterrupted one-process run's weights.
TEST(TrainMemberLayouts, CheckpointsResumeUnderAnotherPlacement) {
  const std::string method = "--set cooperate.method=mutual";
  const std::string two =
      "--nproc 2 --set network.0.data=2 --set 'network.1.ranks=[1]' "
      "--set 'network.2.ranks=[0]'";
  const std::string one = "--set network.0.data=1 --set 'network.1.ranks=[0]'";
  // The wide mlp pipelined on ranks 1 and 0 (checkpoints hold it whole).
  const std::string pipelined =
      "--nproc 2 --set network.0.pipeline=2 --set 'network.0.ranks=[1, 0]' "
      "--set 'network.1.ranks=[0]' --set 'network.2.ranks=[1]'";
  TempRunDir reference;
  ASSERT_NO_FATAL_FAILURE(test::train_ok(cohort_command(reference.path, method)));
  for (const auto& [from, to] : {std::pair{two, one}, std::pair{one, two},
                                 std::pair{pipelined, two + " --set network.0.pipeline=1"}}) {
    SCOPED_TRACE(from + " -> " + to);
    TempRunDir run;
    ASSERT_NO_FATAL_FAILURE(test::train_ok(cohort_command(run.path, method + " " + from) +
                                           " --set train.max_steps=10"));
    ASSERT_EQ(load_checkpoint(latest_checkpoint(run.path)).step, 10);
    ASSERT_NO_FATAL_FAILURE(test::train_ok(fmt::format(
        "{} train --resume {} --quiet --set train.max_steps=20 {}", COHORT_BIN, run.path, to)));
    expect_same_cohort(reference.path, run.path, 1e-5);
  }
}

// The leader's metrics name what each rank sent to the others.
TEST(TrainMemberLayouts, ExchangeBytesPerRankAreInTheMetrics) {
  TempRunDir run;
  ASSERT_NO_FATAL_FAILURE(test::train_ok(cohort_command(
      run.path,
      "--set cooperate.method=mutual --set train.log_every=10 --nproc 2 "
      "--set network.0.data=2 --set 'network.1.ranks=[0]' --set 'network.2.ranks=[1]'")));
  std::ifstream metrics(run.path + "/metrics.jsonl");
  std::string line;
  int ranks_records = 0;
  while (std::getline(metrics, line)) {
    const auto record = nlohmann::json::parse(line);
    if (record["kind"] != "ranks") continue;
    ++ranks_records;
    const auto bytes = record.at("exchange_bytes_per_step").get<std::vector<double>>();
    ASSERT_EQ(bytes.size(), 2u);
    // Logits of 10 floats per row, only what the other rank lacks: its half of
    // network 0's 32 rows and its own mlp's 32 (the other rank's mlp trains on
    // every row). An allreduce of every member's logits sent 3 x 32 rows. Then
    // the outcome's 6 doubles (a ring of 2 sends each rank's whole).
    const double expected = (16 + 32) * 10 * 4 + 6 * 8;
    for (double b : bytes) EXPECT_DOUBLE_EQ(b, expected);
  }
  EXPECT_EQ(ranks_records, 2);
}

TEST(TrainMemberLayouts, LayoutsThatCannotRunAreRefusedBeforeAnyWorkerStarts) {
  const std::pair<std::string, std::string> cases[] = {
      {"--nproc 2 --set network.0.pipeline=2 --set network.1.pipeline=2 "
       "--set cooperate.method=mutual",
       "each one's loss needs the other's predictions"},
      {"--nproc 2 --set network.0.pipeline=2 --set cooperate.method=pbt",
       "with cooperate.method = 'pbt' is not built"},
      {"--nproc 3 --set network.0.pipeline=2 --set 'network.0.ranks=[0, 1, 2]'",
       "cannot share: name a multiple of 2"},
      {"--nproc 4 --set network.0.data=1", "rank 3 of 4 trains no network"},
      {"--nproc 2 --set network.0.data=2 --set parallel.network=2",
       "would place them too: set them to 1"},
      {"--nproc 2 --set network.0.data=2 --set parallel.mode=local-sgd",
       "set parallel.mode = 'sync'"},
  };
  for (const auto& [args, message] : cases) {
    const auto run = test::run_shell(cohort_command("/nonexistent/never-made", args), 60);
    EXPECT_EQ(run.exit_code, 2) << run.output;
    EXPECT_NE(run.output.find(message), std::string::npos) << run.output;
    EXPECT_EQ(run.output.find("[rank"), std::string::npos) << "a worker started:\n" << run.output;
  }
}

// parallel.plan = "auto": the launcher profiles the members, plans their
// layouts for 2 ranks and runs them; the run's config records the placement
// (plan = manual), so a resume keeps it.
TEST(TrainMemberLayouts, AutoPlanRunsThePlannersLayoutsAndRecordsThem) {
  TempRunDir run;
  const std::string command =
      cohort_command(run.path,
                     "--set cooperate.method=mutual --set 'network.0.widths=[256, 256]' "
                     "--set parallel.plan=auto --nproc 2");
  const auto result = test::run_shell(command, 300);
  ASSERT_EQ(result.exit_code, 0) << result.output;
  const Config saved = load_config(run.path + "/config.toml", {});
  EXPECT_EQ(saved.parallel.plan, "manual");
  std::set<int64_t> used;
  for (const NetworkConfig& n : saved.networks) {
    EXPECT_FALSE(n.ranks.empty()) << n.name;
    EXPECT_EQ(n.data * std::max<int64_t>(1, n.pipeline), int64_t(n.ranks.size())) << n.name;
    used.insert(n.ranks.begin(), n.ranks.end());
  }
  EXPECT_FALSE(used.empty());
  EXPECT_EQ(load_checkpoint(latest_checkpoint(run.path)).step, 20);
}

}  // namespace
}  // namespace cohort
