// Pipeline equivalence: P real processes, one stage each, must produce the
// gradients (after one step) and the weights (after three SGD steps) of one
// process running the whole model on the whole batch.
//
// The parent test starts `cohort launch --nproc P -- <this binary>` with
// COHORT_PIPELINE_WORKER set; in the workers only PipelineWorker.Run is active.
// One launch per P runs every model x schedule x recomputation case in turn, so
// the suite pays the process start-up three times, not thirty.
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "cohort/pipeline.h"
#include "cohort/error.h"
#include "cohort/launch.h"
#include "cohort/models.h"
#include "cohort/rendezvous.h"
#include "test_paths.h"

// Named, not anonymous: a unity build compiles this file together with others,
// and the using-directive must not reach them.
namespace pipeline_equivalence_test {
using namespace cohort;

constexpr int kBatch = 10;         // uneven micro-batches with M = 4: 3, 3, 2, 2 rows
constexpr int kMicroBatches = 4;
constexpr int kSteps = 3;
constexpr double kLearningRate = 0.1;

// Tolerance. The pipeline sums each parameter's gradient over micro-batches
// (M partial sums, each scaled by its row share) where the reference sums over
// the batch in one reduction; float32 rounding of the two orders differs by a
// few ulp of the largest partial sums. Allowed: 1e-5 of the tensor's largest
// entry (plus 1e-7 for tensors that are all near zero). Measured worst case
// over every stage, model, schedule and P here: 0.14 of that allowance (cnn,
// about 1.4e-6 relative), so 7x headroom, while a wrong loss scale (x M) or a
// lost micro-batch misses it by orders of magnitude.
double allowed(const at::Tensor& reference) {
  return 1e-5 * reference.abs().max().item<double>() + 1e-7;
}

// The zoo's models, narrowed so the whole suite runs in seconds: the layer
// structure (and resnet's batch norm) is what the pipeline has to get right.
torch::nn::Sequential make_model(const std::string& name) {
  ModelSpec spec;
  spec.name = name;
  spec.widths = {64, 32};
  spec.channels = 4;
  torch::manual_seed(7);  // every rank and the reference build the same weights
  return build_model(spec);
}

Batch make_step_batch(int step) {
  torch::manual_seed(100 + step);
  return {torch::randn({kBatch, 1, 28, 28}), torch::randint(0, 10, {kBatch}, torch::kInt64)};
}

std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v ? v : fallback;
}

struct Reference {
  double loss = 0;
  int64_t correct = 0;
};

// One process, whole model. Without batch norm: the whole batch in one pass, the
// computation the pipeline must reproduce. With batch norm the statistics are
// per micro-batch in any pipeline (as in GPipe), so the reference accumulates the
// same micro-batches in one process instead.
Reference reference_step(torch::nn::Sequential& model, const Batch& batch) {
  Reference ref;
  const bool per_micro_batch = !model->buffers().empty();
  const auto rows = per_micro_batch ? micro_batch_rows(kBatch, kMicroBatches)
                                    : std::vector<int64_t>{kBatch};
  const auto xs = batch.inputs.split_with_sizes(rows);
  const auto ys = batch.targets.split_with_sizes(rows);
  for (size_t i = 0; i < rows.size(); ++i) {
    const at::Tensor out = model->forward(xs[i]);
    const at::Tensor loss =
        torch::nn::functional::cross_entropy(out, ys[i]) * (double(rows[i]) / kBatch);
    loss.backward();
    ref.loss += loss.item<double>();
    ref.correct += out.argmax(1).eq(ys[i]).sum().item<int64_t>();
  }
  return ref;
}

// Runs one case on this rank and returns the largest difference/tolerance ratio.
double run_case(const CommunicatorPtr& world, const std::string& model_name,
                ScheduleKind schedule, bool recompute, std::ostream& log) {
  auto reference = make_model(model_name);
  auto model = make_model(model_name);
  // Uniform cuts for GPipe; measured-time cuts (agreed through rank 0) for 1F1B,
  // so the bounds differ between runs and every stage must still agree on them.
  const Partition part =
      schedule == ScheduleKind::GPipe
          ? partition_uniform(model->size(), world->size())
          : agree_partition(*world, model, PartitionMethod::Time, make_step_batch(0).inputs);
  PipelineStage stage(stage_layers(model, part, world->rank()), world);
  torch::optim::SGD stage_sgd(stage.parameters(), kLearningRate);
  torch::optim::SGD reference_sgd(reference->parameters(), kLearningRate);
  const PipelineOptions options{schedule, kMicroBatches, recompute};

  double worst = 0;
  auto compare = [&](const char* what, int step) {
    const auto ref = reference->named_parameters();
    for (const auto& kv : stage.layers()->named_parameters()) {
      const at::Tensor& expected = *ref.find(kv.key());
      const at::Tensor actual =
          std::string(what) == "grad" ? kv.value().grad() : kv.value().detach();
      const at::Tensor want = std::string(what) == "grad" ? expected.grad() : expected.detach();
      const double diff = (actual - want).abs().max().item<double>();
      worst = std::max(worst, diff / allowed(want));
      EXPECT_LE(diff, allowed(want)) << model_name << " " << to_string(schedule)
                                     << (recompute ? " recompute" : "") << " step " << step
                                     << " stage " << stage.stage() << " " << what << " of "
                                     << kv.key();
    }
  };

  for (int step = 0; step < kSteps; ++step) {
    const Batch batch = make_step_batch(step);
    reference_sgd.zero_grad();
    const Reference ref = reference_step(reference, batch);

    bool stepped = false;
    const StepResult r = run_pipeline_step(stage, batch, options, [&] { stepped = true; });
    EXPECT_TRUE(stepped) << "OptimizerStep must call the callback";
    compare("grad", step);
    EXPECT_EQ(r.has_loss, stage.is_last());
    if (stage.is_last()) {
      EXPECT_NEAR(r.loss, ref.loss, 1e-5 * std::abs(ref.loss));
      EXPECT_EQ(r.correct, ref.correct);
      EXPECT_EQ(r.samples, kBatch);
    }
    EXPECT_GT(r.busy_seconds, 0);
    EXPECT_GT(r.peak_activation_bytes, 0);
    stage_sgd.step();
    reference_sgd.step();
  }
  compare("weight", kSteps);
  // Running statistics (batch norm) must advance once per micro-batch, also when
  // the forward is recomputed.
  const auto ref_buffers = reference->named_buffers();
  for (const auto& kv : stage.layers()->named_buffers()) {
    const at::Tensor& want = *ref_buffers.find(kv.key());
    EXPECT_TRUE(torch::allclose(kv.value().to(torch::kDouble), want.to(torch::kDouble), 1e-5, 1e-7))
        << model_name << " " << to_string(schedule) << (recompute ? " recompute" : "")
        << " buffer " << kv.key();
  }
  log << model_name << " " << to_string(schedule) << (recompute ? " recompute" : "")
      << " worst/tolerance " << worst << "\n";
  return worst;
}

// Models each pipeline depth runs (resnet is the slow one: two and three stages).
std::vector<std::string> worker_models(int stages) {
  if (stages <= 3) return {"mlp", "cnn", "resnet"};
  return {"mlp", "cnn"};
}

// Starts P workers through the launcher and returns the launcher's exit status.
int launch_workers(int stages, const std::string& out_dir) {
  std::ostringstream cmd;
  cmd << "COHORT_PIPELINE_WORKER=1 COHORT_PIPELINE_OUT=" << out_dir << " timeout -k 5 300 "
      << COHORT_BIN << " launch --nproc " << stages << " -- /proc/" << getpid()
      << "/exe --gtest_filter=PipelineWorker.Run";
  const int status = std::system(cmd.str().c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

void expect_pipeline_matches_reference(int stages) {
  char dir[] = "/tmp/cohort-pipeline-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  EXPECT_EQ(launch_workers(stages, dir), 0) << "see the workers' output above";
  // Every rank must have run every case: a worker that silently skipped would
  // otherwise pass.
  for (int r = 0; r < stages; ++r) {
    std::ifstream in(std::string(dir) + "/rank" + std::to_string(r) + ".txt");
    std::stringstream text;
    text << in.rdbuf();
    const std::string s = text.str();
    const std::string done = "done " + std::to_string(4 * worker_models(stages).size());
    EXPECT_NE(s.find(done), std::string::npos) << "rank " << r << " log:\n" << s;
    std::cout << "rank " << r << ":\n" << s;
  }
  std::filesystem::remove_all(dir);
}

TEST(PipelineWorker, Run) {
  if (!std::getenv("COHORT_PIPELINE_WORKER")) GTEST_SKIP() << "runs inside launched workers";
  const auto world = init_world(world_info_from_environment(), std::chrono::seconds(60));
  std::ofstream log(env_or("COHORT_PIPELINE_OUT", "/tmp") + "/rank" +
                    std::to_string(world->rank()) + ".txt");
  int cases = 0;
  for (const std::string& model : worker_models(world->size())) {
    for (auto schedule : {ScheduleKind::GPipe, ScheduleKind::OneFOneB}) {
      for (bool recompute : {false, true}) {
        run_case(world, model, schedule, recompute, log);
        ++cases;
      }
    }
  }
  log << "done " << cases << std::endl;
}

TEST(PipelineEquivalence, TwoStages) { expect_pipeline_matches_reference(2); }
TEST(PipelineEquivalence, ThreeStages) { expect_pipeline_matches_reference(3); }
TEST(PipelineEquivalence, FourStages) { expect_pipeline_matches_reference(4); }

TEST(PipelineMicroBatches, FirstRowsTakeTheRemainder) {
  EXPECT_EQ(micro_batch_rows(10, 4), (std::vector<int64_t>{3, 3, 2, 2}));
  EXPECT_EQ(micro_batch_rows(8, 4), (std::vector<int64_t>{2, 2, 2, 2}));
}

TEST(PipelineSingleStage, RejectsABatchSmallerThanTheMicroBatchCount) {
  WorldInfo solo;
  solo.master_port = pick_free_port();
  const auto world = init_world(solo, std::chrono::seconds(20));
  auto model = make_model("mlp");
  PipelineStage stage(stage_layers(model, partition_uniform(model->size(), 1), 0), world);
  const Batch tiny{torch::randn({3, 1, 28, 28}), torch::randint(0, 10, {3}, torch::kInt64)};
  try {
    run_pipeline_step(stage, tiny, PipelineOptions{ScheduleKind::GPipe, 4, false});
    FAIL() << "3 rows cannot make 4 micro-batches";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("micro_batches"), std::string::npos) << e.what();
  }
  // One stage is plain gradient accumulation: it must equal the whole batch.
  auto reference = make_model("mlp");
  const Batch batch = make_step_batch(0);
  const Reference ref = reference_step(reference, batch);
  const StepResult r = run_pipeline_step(stage, batch, PipelineOptions{ScheduleKind::OneFOneB, 4, true});
  EXPECT_NEAR(r.loss, ref.loss, 1e-5 * ref.loss);
  const auto want = reference->named_parameters();
  for (const auto& kv : model->named_parameters()) {
    const at::Tensor& w = *want.find(kv.key());
    EXPECT_LE((kv.value().grad() - w.grad()).abs().max().item<double>(), allowed(w.grad()))
        << kv.key();
  }
}

}  // namespace pipeline_equivalence_test
