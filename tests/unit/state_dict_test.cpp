// The checks between a PyTorch state_dict and a zoo model, and reading the
// torch.save archive, without Python: archives here are written by
// torch::pickle_save, which torch.save's zip layout shares. The Python side is
// tests/scripts/pytorch_weights_round_trip.sh.
#include "cohort/state_dict.h"

#include <gtest/gtest.h>
#include <torch/serialize.h>

#include "cohort/error.h"
#include "cohort/models.h"
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
  for (const auto& p : model.named_parameters())
    out.emplace_back(p.key(), p.value().detach().clone());
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

// What Python's pickle.dumps(OrderedDict, protocol=2) writes for a state_dict of
// two entries (ints in place of tensors) with its _metadata, as torch.save does.
const std::string kOrderedDictPickle(
    "\x80\x02\x63\x63\x6f\x6c\x6c\x65\x63\x74\x69\x6f\x6e\x73\x0a\x4f\x72\x64\x65\x72\x65\x64"
    "\x44\x69\x63\x74\x0a\x71\x00\x29\x52\x71\x01\x28\x58\x08\x00\x00\x00\x31\x2e\x77\x65\x69"
    "\x67\x68\x74\x71\x02\x4b\x01\x58\x06\x00\x00\x00\x31\x2e\x62\x69\x61\x73\x71\x03\x4b\x02"
    "\x75\x7d\x71\x04\x58\x09\x00\x00\x00\x5f\x6d\x65\x74\x61\x64\x61\x74\x61\x71\x05\x68\x00"
    "\x29\x52\x71\x06\x28\x58\x00\x00\x00\x00\x71\x07\x7d\x71\x08\x58\x07\x00\x00\x00\x76\x65"
    "\x72\x73\x69\x6f\x6e\x71\x09\x4b\x01\x73\x58\x01\x00\x00\x00\x31\x71\x0a\x7d\x71\x0b\x68"
    "\x09\x4b\x01\x73\x75\x73\x62\x2e",
    140);

TEST(StateDict, PythonsOrderedDictPickleReadsAsAPlainDict) {
  // As it is, libtorch reads the OrderedDict as None and fails on its items.
  EXPECT_ANY_THROW(unpickle(kOrderedDictPickle));
  const auto rewritten = ordered_dict_pickle_for_libtorch(kOrderedDictPickle);
  ASSERT_TRUE(rewritten.has_value());
  const auto root = unpickle(*rewritten).toTupleRef().elements().at(1);
  const auto dict = root.toGenericDict();
  ASSERT_EQ(dict.size(), 2u);
  EXPECT_EQ(dict.begin()->key().toStringRef(), "1.weight");  // the file's order is kept
  EXPECT_EQ(dict.at("1.bias").toInt(), 2);
  // A plain dict needs nothing, and a truncated OrderedDict pickle is not guessed at.
  EXPECT_FALSE(
      ordered_dict_pickle_for_libtorch(std::string("\x80\x02}q\x00X\x01\x00\x00\x00"
                                                   "aq\x01K\x01s.",
                                                   17)));
  EXPECT_FALSE(ordered_dict_pickle_for_libtorch(kOrderedDictPickle.substr(0, 40)));
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
  EXPECT_EQ(load_error(*model, wider),
            "w.pt: '1.weight' has shape 24x784 in the file but 16x784 "
            "in the model");

  auto extra = state;
  extra.emplace_back("5.weight", at::zeros({2, 2}));
  EXPECT_EQ(load_error(*model, extra),
            "w.pt: holds '5.weight' (2x2), which the model does not have");

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
  EXPECT_NE(error_of(truncated).find("bad.pt: cannot be read ("), std::string::npos);
  EXPECT_NE(
      error_of(torch::pickle_save(c10::IValue(at::ones({2})))).find("not a dict of named tensors"),
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

namespace cohort {
namespace {

// libtorch's unpickler reserves what a length claims before reading it: found by
// tensors_fuzzer as a 1.5 KB file costing 2.2 GB.
// A string literal with its NUL bytes.
template <size_t N>
std::string bytes(const char (&text)[N]) {
  return std::string(text, N - 1);
}

TEST(PickleLengths, ClaimsPastTheEndAreRefusedBeforeUnpickling) {
  EXPECT_EQ(pickle_length_problem(bytes("\x80\x02X\x03\x00\x00\x00"
                                        "abc.")),
            "");
  EXPECT_EQ(pickle_length_problem(bytes("\x80\x02"
                                        "ccollections\nOrderedDict\nq\x00)R.")),
            "");
  EXPECT_NE(pickle_length_problem(bytes("\x80\x02X\x00\x00\x00\x5f"
                                        "abc."))
                .find("claims 1593835520 bytes, but 4 follow"),
            std::string::npos);
  EXPECT_NE(pickle_length_problem(bytes("\x80\x02X\x03\x00")).find("ends inside"),
            std::string::npos);
  EXPECT_NE(pickle_length_problem(bytes("\x80\x02N")).find("no STOP"), std::string::npos);
  // LONG_BINPUT naming memo entry 700 million: libtorch would size its memo table to it
  // (11 GB; found by tensors_fuzzer, kept in fuzz/corpus/tensors/).
  EXPECT_NE(pickle_length_problem(bytes("\x80\x02Nr\x00\x00\xb8\x29."))
                .find("memo index at byte 3 is 699924480"),
            std::string::npos);
  EXPECT_EQ(pickle_length_problem(bytes("\x80\x02Nr\x00\x00\x00\x00.")), "");
  EXPECT_NE(pickle_length_problem(bytes("\x80\x02\x01.")).find("not a pickle opcode"),
            std::string::npos);
  // Every state_dict torch.save writes passes: the tests above read real ones.
}

}  // namespace
}  // namespace cohort
