#include "cohort/models.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "cohort/error.h"
#include "cohort/registry.h"

namespace cohort {
namespace {

// The zoo's own models: other tests in this binary register theirs (a network
// without parameters among them), and in one process they may run first.
std::vector<std::string> zoo_names() {
  const std::vector<std::string> registered = registered_models();
  std::vector<std::string> names;
  for (const auto& name : model_names())
    if (std::find(registered.begin(), registered.end(), name) == registered.end())
      names.push_back(name);
  return names;
}

TEST(Models, EveryModelMapsImagesToTenLogits) {
  for (const auto& name : zoo_names()) {
    ModelSpec spec;
    spec.name = name;
    if (name == "resnet") spec.channels = 8;
    auto model = build_model(spec);
    const at::Tensor out = model->forward(torch::randn({5, 1, 28, 28}));
    EXPECT_EQ(out.sizes().vec(), (std::vector<int64_t>{5, 10})) << name;
    EXPECT_GT(model->size(), 3u) << name << " must be a sequence of layers";
  }
}

TEST(Models, MlpAndCnnMatchThePeersShapes) {
  ModelSpec mlp{"mlp"};
  int64_t mlp_params = 0;
  for (const auto& p : build_model(mlp)->parameters()) mlp_params += p.numel();
  EXPECT_EQ(mlp_params, 784 * 256 + 256 + 256 * 256 + 256 + 256 * 10 + 10);
  ModelSpec cnn{"cnn"};
  int64_t cnn_params = 0;
  for (const auto& p : build_model(cnn)->parameters()) cnn_params += p.numel();
  EXPECT_EQ(cnn_params, 32 * 9 + 32 + 64 * 32 * 9 + 64 + 64 * 49 * 128 + 128 + 1280 + 10);
}

// parameter_count guards memory before a model exists: it must agree with what
// build_model makes, for every model and a spread of sizes.
TEST(Models, ParameterCountAgreesWithTheBuiltModels) {
  for (const auto& name : zoo_names()) {
    for (int64_t channels : {1, 3, 8}) {
      for (const auto& widths : {std::vector<int64_t>{}, std::vector<int64_t>{7, 5, 3}}) {
        ModelSpec spec;
        spec.name = name;
        spec.channels = channels;
        spec.widths = widths;
        spec.num_classes = 4;
        int64_t built = 0;
        for (const auto& p : build_model(spec)->parameters()) built += p.numel();
        EXPECT_EQ(parameter_count(spec), double(built)) << name << " channels " << channels;
      }
    }
  }
  EXPECT_EQ(parameter_count(ModelSpec{"transformer"}), 0);
}

TEST(Models, UnknownOrImpossibleModelsAreInputErrors) {
  EXPECT_THROW(build_model(ModelSpec{"transformer"}), InputError);
  ModelSpec bad{"mlp"};
  bad.widths = {0};
  EXPECT_THROW(build_model(bad), InputError);
}

}  // namespace
}  // namespace cohort
