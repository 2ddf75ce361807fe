// The checks between a PyTorch state_dict and a zoo model, and reading the
// torch.save archive, without Python: archives here are written by
// torch::pickle_save, which torch.save's zip layout shares. The Python side is
// tests/scripts/pytorch_weights_round_trip.sh.
#include <gtest/gtest.h>
#include <torch/serialize.h>

#include "cohort/error.h"
#include "cohort/models.h"
#include "cohort/state_dict.h"
#include "test_files.h"

namespace cohort {
namespace {

ModelSpec mlp(std::vector<int64_t> widths) {
  ModelSpec spec;
  spec.name = "mlp";
  spec.widths = std::move(widths);
  return spec;
}

std::vector<char> archive_of(const NamedTensors& tensors) {
  c10::impl::GenericDict dict(c10::StringType::get(), c10::TensorType::get());
  for (const auto& [name, t] : tensors) dict.insert(name, t);
  return torch::pickle_save(dict);
}

NamedTensors state_of(torch::nn::Module& model) {
  NamedTensors out;
  for (const auto& p : model.named_parameters()) out.emplace_back(p.key(), p.value().detach().clone());
  for (const auto& b : model.named_buffers()) out.emplace_back(b.key(), b.value().clone());
  return out;
}

std::string load_error(torch::nn::Module& model, const NamedTensors& state) {
  try {
    load_state_dict(model, state, "w.pt");
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

TEST(StateDict, ZooNamesAreThoseOfTheEquivalentSequential) {
  auto model = build_model(mlp({32}));
  std::vector<std::string> names;
  for (const auto& t : tensor_shapes(*model)) names.push_back(t.name);
  // nn.Sequential(Flatten, Linear, ReLU, Linear) in Python names them the same.
  EXPECT_EQ(names, (std::vector<std::string>{"1.weight", "1.bias", "3.weight", "3.bias"}));
  ModelSpec resnet;
  resnet.name = "resnet";
  resnet.channels = 4;
  bool block_names = false, bn_buffers = false;
  for (const auto& t : tensor_shapes(*build_model(resnet))) {
    block_names |= t.name == "4.shortcut.1.running_var";
    bn_buffers |= t.name == "1.num_batches_tracked";
  }
  EXPECT_TRUE(block_names && bn_buffers);
}

TEST(StateDict, AnArchiveLoadsIntoTheSameArchitectureBitForBit) {
  testing::TempDir dir;
  auto source = build_model(mlp({16}));
  const auto bytes = archive_of(state_of(*source));
  testing::write_bytes(dir.file("w.pt"), std::vector<uint8_t>(bytes.begin(), bytes.end()));
  auto target = build_model(mlp({16}));
  load_state_dict(*target, read_state_dict(dir.file("w.pt")), "w.pt");
  for (const auto& p : source->named_parameters())
    EXPECT_TRUE(p.value().equal(target->named_parameters()[p.key()])) << p.key();
}

TEST(StateDict, FirstMismatchIsNamedOnOneLine) {
  auto model = build_model(mlp({16}));
  auto state = state_of(*model);

  auto missing = state;
  missing.erase(missing.begin() + 2);  // 3.weight
  EXPECT_EQ(load_error(*model, missing),
            "w.pt: has no '3.weight' (10x16), which the model has; the names must be the "
            "equivalent PyTorch model's (examples/python/cohort_models.py)");

  auto wider = state_of(*build_model(mlp({24})));
  EXPECT_EQ(load_error(*model, wider), "w.pt: '1.weight' has shape 24x784 in the file but 16x784 "
                                       "in the model");

  auto extra = state;
  extra.emplace_back("5.weight", at::zeros({2, 2}));
  EXPECT_EQ(load_error(*model, extra), "w.pt: holds '5.weight' (2x2), which the model does not have");

  // A DataParallel-style prefix is a mismatch, not silently ignored.
  NamedTensors prefixed;
  for (const auto& [n, t] : state) prefixed.emplace_back("module." + n, t);
  EXPECT_NE(load_error(*model, prefixed).find("has no '1.weight'"), std::string::npos);
  for (const auto& e : {load_error(*model, missing), load_error(*model, wider)})
    EXPECT_EQ(e.find('\n'), std::string::npos) << e;
}

TEST(StateDict, RefusedStateLeavesTheModelUntouched) {
  auto model = build_model(mlp({16}));
  const auto before = state_of(*model);
  auto state = state_of(*build_model(mlp({16})));
  state.back().second = at::zeros({3});  // the last bias, wrong shape
  EXPECT_FALSE(load_error(*model, state).empty());
  EXPECT_TRUE(model->named_parameters()["1.weight"].equal(before.front().second));
}

TEST(StateDict, FilesThatAreNotStateDictsAreInputErrorsNamingTheFile) {
  testing::TempDir dir;
  auto error_of = [&](const std::vector<char>& bytes) -> std::string {
    try {
      parse_state_dict(bytes, "bad.pt");
    } catch (const InputError& e) {
      return e.what();
    }
    return "";
  };
  const std::string text = "not a zip at all";
  EXPECT_NE(error_of({text.begin(), text.end()}).find("bad.pt: not a torch.save zip archive"),
            std::string::npos);
  auto truncated = archive_of({{"w", at::ones({4})}});
  truncated.resize(truncated.size() / 2);
  EXPECT_NE(error_of(truncated).find("bad.pt: cannot read it as a state_dict"), std::string::npos);
  EXPECT_NE(error_of(torch::pickle_save(c10::IValue(at::ones({2})))).find("not a state_dict"),
            std::string::npos);
  c10::impl::GenericDict nested(c10::StringType::get(), c10::AnyType::get());
  nested.insert("model", c10::IValue(int64_t(3)));
  EXPECT_NE(error_of(torch::pickle_save(nested)).find("'model' is a Int, not a tensor"),
            std::string::npos);
  try {
    read_state_dict(dir.file("absent.pt"));
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("absent.pt: cannot be read"), std::string::npos);
  }
}

}  // namespace
}  // namespace cohort
