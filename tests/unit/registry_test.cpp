// A program's own models, datasets and optimisers, registered by name and trained
// through the same train() the CLI calls. They exist only here.
#include "cohort/registry.h"

#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>
#include <torch/nn/modules/linear.h>
#include <torch/optim/adagrad.h>

#include <algorithm>

#include "cohort/checkpoint.h"
#include "cohort/config.h"
#include "cohort/error.h"
#include "cohort/optim.h"
#include "cohort/trainer.h"
#include "test_files.h"
#include "test_paths.h"

namespace cohort {
namespace {

// Not a Sequential of the zoo's layers: one module with a skip connection.
struct SkipNetImpl : torch::nn::Module {
  SkipNetImpl(int64_t features, int64_t width, int64_t classes)
      : in(register_module("in", torch::nn::Linear(features, width))),
        hidden(register_module("hidden", torch::nn::Linear(width, width))),
        out(register_module("out", torch::nn::Linear(width, classes))) {}
  at::Tensor forward(const at::Tensor& x) {
    const at::Tensor h = at::relu(in(x.flatten(1)));
    return out(h + at::relu(hidden(h)));
  }
  torch::nn::Linear in, hidden, out;
};
TORCH_MODULE(SkipNet);

int64_t features_of(const ModelSpec& spec) {
  int64_t n = 1;
  for (int64_t d : spec.input_shape) n *= d;
  return n;
}

// Four well-separated blobs in 8 dimensions; the test split from other draws
// around the same centres. Its own generator: every rank must load the same data.
Splits blobs(const DataSource&) {
  at::Generator gen = at::detail::createCPUGenerator(11);
  const at::Tensor centres = at::randn({4, 8}, gen) * 3;
  auto draw = [&](int64_t n) {
    const at::Tensor targets = at::arange(n, at::kLong) % 4;
    const at::Tensor inputs = centres.index_select(0, targets) + at::randn({n, 8}, gen);
    return std::make_shared<TensorDataset>(inputs, targets, 4);
  };
  return {draw(512), draw(256)};
}

// Regression: two smooth targets of 6 features.
Splits waves(const DataSource&) {
  at::Generator gen = at::detail::createCPUGenerator(13);
  auto draw = [&](int64_t n) {
    const at::Tensor inputs = at::randn({n, 6}, gen);
    const at::Tensor targets = at::stack({at::sin(inputs.select(1, 0)), inputs.select(1, 1)}, 1);
    return std::make_shared<TensorDataset>(inputs, targets, Task::Regression, 2);
  };
  return {draw(512), draw(256)};
}

// Registration is global to the process; gtest runs each test in its own
// process (ctest), but a plain run of the binary runs them all in one.
void register_once() {
  static const bool done = [] {
    register_model("skip_net", [](const ModelSpec& spec) {
      const int64_t width = spec.widths.empty() ? 16 : spec.widths.front();
      return torch::nn::Sequential(SkipNet(features_of(spec), width, spec.num_classes));
    });
    register_dataset("blobs", blobs);
    register_dataset("waves", waves);
    // Adagrad: per-parameter state Cohort does not know (a step count and a sum of squares).
    register_optimizer("adagrad", [](std::vector<at::Tensor> parameters, const NetworkConfig& n) {
      return std::make_unique<torch::optim::Adagrad>(std::move(parameters),
                                                     torch::optim::AdagradOptions(n.lr));
    });
    return true;
  }();
  (void)done;
}

bool contains(const std::vector<std::string>& names, const std::string& name) {
  return std::count(names.begin(), names.end(), name) == 1;
}

TEST(Registry, ARegisteredModelIsBuiltByNameAndFitsTheData) {
  register_once();
  EXPECT_TRUE(contains(model_names(), "skip_net"));
  // The user's models only (this binary's other tests may have added theirs).
  const std::vector<std::string> registered = registered_models();
  EXPECT_TRUE(contains(registered, "skip_net"));
  EXPECT_EQ(std::count(registered.begin(), registered.end(), "mlp"), 0);
  ModelSpec spec;
  spec.name = "skip_net";
  spec.input_shape = {3, 5};
  spec.num_classes = 7;
  auto model = build_model(spec);
  EXPECT_EQ(model->forward(at::randn({2, 3, 5})).sizes().vec(), (std::vector<int64_t>{2, 7}));
}

TEST(Registry, NamesThatAreTakenOrEmptyAreRefused) {
  register_once();
  const ModelBuilder any = [](const ModelSpec&) { return torch::nn::Sequential(); };
  EXPECT_THROW(register_model("mlp", any), Error);
  EXPECT_THROW(register_model("skip_net", any), Error);
  EXPECT_THROW(register_model("", any), Error);
  EXPECT_THROW(register_model("nothing", ModelBuilder()), Error);
  EXPECT_THROW(register_dataset("csv", blobs), Error);
  EXPECT_THROW(register_dataset("blobs", blobs), Error);
}

TEST(Registry, ABuilderThatReturnsNoParametersIsRefusedByName) {
  register_once();
  register_model("hollow", [](const ModelSpec&) { return torch::nn::Sequential(); });
  ModelSpec spec;
  spec.name = "hollow";
  try {
    build_model(spec);
    FAIL() << "an empty network was accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("model hollow"), std::string::npos) << e.what();
  }
}

TEST(Registry, ConfigsNameRegisteredDatasetsAndUnknownNamesListThem) {
  register_once();
  EXPECT_TRUE(contains(data_format_names(), "blobs"));
  const Config c = load_config("", {"data.format=blobs"});
  EXPECT_EQ(load_splits(c.data).train->spec().input_shape, std::vector<int64_t>{8});
  try {
    load_config("", {"data.format=blob"});
    FAIL() << "an unknown format was accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("blobs"), std::string::npos) << e.what();
  }
}

TEST(Registry, ALoaderWithoutATestSplitIsRefused) {
  register_once();
  register_dataset("half", [](const DataSource& s) { return Splits{blobs(s).train, nullptr}; });
  DataSource source;
  source.format = "half";
  EXPECT_THROW(load_splits(source), InputError);
}

// The whole trainer on both: two networks of the user's model learning from
// each other, evaluated with their ensemble, in the run folder the CLI writes.
TEST(Registry, TrainRunsAMutualLearningCohortOfTheProgramsOwnModelOnItsOwnData) {
  register_once();
  testing::TempDir dir;
  const Config c =
      load_config(COHORT_SOURCE_DIR "/examples/configs/mlp.toml",
                  {"data.format=blobs", "network.0.model=skip_net", "network.1.model=skip_net",
                   "network.1.widths=[16]", "cooperate.method=mutual", "train.batch_size=32",
                   "train.epochs=3", "train.threads=1"});
  const RunSummary s = train(c, RunOptions{dir.path(), false, false});
  ASSERT_EQ(s.networks.size(), 2u);
  for (const auto& n : s.networks) {
    EXPECT_EQ(n.model, "skip_net");
    EXPECT_GT(n.test_accuracy, 0.9) << n.name;  // separated blobs; chance is 0.25
  }
  ASSERT_TRUE(s.ensemble.has_value());
  EXPECT_TRUE(std::filesystem::exists(dir.file("summary.json")));
  EXPECT_TRUE(std::filesystem::exists(dir.file("checkpoints")));
}

TEST(Registry, ARegisteredOptimizerTrainsAndResumesExactly) {
  register_once();
  EXPECT_TRUE(contains(optimizer_names(), "adagrad"));
  EXPECT_THROW(register_optimizer("adam", nullptr), Error);
  const Config c = load_config(
      COHORT_SOURCE_DIR "/examples/configs/mlp.toml",
      {"data.format=blobs", "network.0.optimizer=adagrad", "network.0.lr=0.05",
       "network.0.widths=[16]", "train.batch_size=32", "train.max_steps=30", "train.threads=1",
       "train.checkpoint_every_steps=12", "train.keep_checkpoints=5"});
  testing::TempDir whole, crashed;
  const RunSummary s = train(c, RunOptions{whole.path(), false, false});
  EXPECT_GT(s.networks.at(0).test_accuracy, 0.9);
  train(c, RunOptions{crashed.path(), false, false});
  // Only the step-12 checkpoint survives: Adagrad's sums must come back with it.
  for (const auto& e : std::filesystem::directory_iterator(crashed.file("checkpoints")))
    if (e.path().filename() != "step-00000012") std::filesystem::remove_all(e.path());
  train(c, RunOptions{crashed.path(), true, false});
  const NamedTensors a = load_checkpoint(whole.path()).networks.at(0).tensors;
  const NamedTensors b = load_checkpoint(crashed.path()).networks.at(0).tensors;
  // Weights equal to the bit only if Adagrad's sums came back: restarted from
  // zero they would take larger steps. (The archive's bytes themselves name the
  // parameters by address, which differs between processes.)
  ASSERT_EQ(a.size(), b.size());
  ASSERT_EQ(a.back().first, "optim.archive");
  for (size_t i = 0; i + 1 < a.size(); ++i)
    EXPECT_TRUE(at::equal(a[i].second, b[i].second)) << a[i].first;
  EXPECT_THROW(load_config("", {"network.0.optimizer=adagradd"}), InputError);
}

TEST(Registry, ARegisteredRegressionDatasetNeedsTheRegressionTask) {
  register_once();
  const std::vector<std::string> o = {"data.format=waves", "train.batch_size=32", "train.epochs=4",
                                      "train.threads=1"};
  testing::TempDir dir;
  try {
    train(load_config(COHORT_SOURCE_DIR "/examples/configs/mlp.toml", o),
          RunOptions{dir.path(), false, false});
    FAIL() << "regression data trained as classes";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("set data.task = 'regression'"), std::string::npos)
        << e.what();
  }
  std::vector<std::string> regression = o;
  regression.push_back("data.task=regression");
  const RunSummary s =
      train(load_config(COHORT_SOURCE_DIR "/examples/configs/mlp.toml", regression),
            RunOptions{dir.path(), false, false});
  EXPECT_EQ(s.task, Task::Regression);
  // Predicting the targets' mean scores their variance, about (0.43 + 1) / 2.
  EXPECT_LT(s.networks.at(0).test_loss, 0.2);
}

}  // namespace
}  // namespace cohort
