// A program's own models and datasets, registered by name and trained through
// the same train() the CLI calls. The model and the data exist only here.
#include "cohort/registry.h"

#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>
#include <torch/nn/modules/linear.h>

#include <algorithm>

#include "cohort/config.h"
#include "cohort/error.h"
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

// Registration is global to the process; gtest runs each test in its own
// process (ctest), but a plain run of the binary runs them all in one.
void register_once() {
  static const bool done = [] {
    register_model("skip_net", [](const ModelSpec& spec) {
      const int64_t width = spec.widths.empty() ? 16 : spec.widths.front();
      return torch::nn::Sequential(SkipNet(features_of(spec), width, spec.num_classes));
    });
    register_dataset("blobs", blobs);
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
  EXPECT_EQ(registered_models(), std::vector<std::string>{"skip_net"});
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

}  // namespace
}  // namespace cohort
