#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "cohort/checkpoint.h"
#include "cohort/error.h"
#include "cohort/models.h"
#include "cohort/network_state.h"
#include "cohort/optim.h"
#include "test_files.h"

namespace cohort {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

TrainingState sample_state(int64_t step) {
  TrainingState s;
  s.step = step;
  s.epoch = 1;
  s.batch_in_epoch = 3;
  s.config_toml = "[train]\n";
  s.networks.push_back({"a", "mlp", {{"param.w", torch::arange(6.0).reshape({2, 3})},
                                     {"optim.0.step", torch::scalar_tensor(4, torch::kLong)}}});
  return s;
}

std::string load_error(const std::string& path) {
  try {
    load_checkpoint(path);
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

TEST(Checkpoint, RoundTripsAndKeepsTheNewest) {
  TempDir dir;
  for (int64_t step : {10, 20, 30, 40}) save_checkpoint(dir.path(), sample_state(step), 2);
  EXPECT_FALSE(fs::exists(dir.path() + "/checkpoints/step-00000020"));
  EXPECT_TRUE(fs::exists(dir.path() + "/checkpoints/step-00000030"));
  const TrainingState s = load_checkpoint(dir.path());
  EXPECT_EQ(s.step, 40);
  EXPECT_EQ(s.batch_in_epoch, 3);
  ASSERT_EQ(s.networks.size(), 1u);
  EXPECT_TRUE(torch::equal(s.networks[0].tensors[0].second, torch::arange(6.0).reshape({2, 3})));
}

TEST(Checkpoint, AnUnfinishedWriteIsNeverChosen) {
  TempDir dir;
  save_checkpoint(dir.path(), sample_state(10), 3);
  // What a crash mid-write leaves: a temporary folder with a partial file.
  fs::create_directories(dir.path() + "/checkpoints/step-00000020.tmp-999");
  std::ofstream(dir.path() + "/checkpoints/step-00000020.tmp-999/state.pt") << "partial";
  EXPECT_EQ(fs::path(latest_checkpoint(dir.path())).filename(), "step-00000010");
}

TEST(Checkpoint, CorruptTruncatedOrForeignFilesAreRejected) {
  TempDir dir;
  const std::string ck = save_checkpoint(dir.path(), sample_state(5), 3);
  const std::string state = ck + "/state.pt";
  const auto size = fs::file_size(state);
  {
    // Flip every bit of one byte: writing a fixed one may land on an equal byte
    // (the archive pads its records with 'Z').
    std::fstream f(state, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(std::streamoff(size / 2));
    const char byte = static_cast<char>(f.get());
    f.seekp(std::streamoff(size / 2));
    f.put(static_cast<char>(~byte));
  }
  EXPECT_NE(load_error(ck).find("checksum"), std::string::npos);
  fs::resize_file(state, size - 10);
  EXPECT_NE(load_error(ck).find("truncated"), std::string::npos);
  std::ofstream(ck + "/manifest.json") << "{not json";
  EXPECT_NE(load_error(ck).find("corrupt manifest"), std::string::npos);
  EXPECT_NE(load_error(dir.file("nothing")).find("does not exist"), std::string::npos);
  TempDir empty;
  EXPECT_NE(load_error(empty.path()).find("no complete checkpoint"), std::string::npos);
}

TEST(Checkpoint, ManifestNumbersOutOfRangeAreInputErrors) {
  // Found by fuzz/checkpoint_fuzzer: a float where an integer belongs was converted
  // with undefined behaviour (UBSan: "1e+30 is outside the range of ... 'long'").
  TempDir dir;
  const std::string ck = save_checkpoint(dir.path(), sample_state(5), 3);
  const auto manifest = nlohmann::json::parse(std::ifstream(ck + "/manifest.json"));
  for (const char* key : {"state_bytes", "state_crc32", "step", "epoch"}) {
    auto damaged = manifest;
    damaged[key] = 1e30;
    // As a manifest of before its own checksum: the numbers are checked on their own.
    damaged.erase("manifest_crc32");
    std::ofstream(ck + "/manifest.json") << damaged.dump();
    EXPECT_NE(load_error(ck).find(std::string(key) + " must be an integer"), std::string::npos)
        << key << ": " << load_error(ck);
  }
}

TEST(Checkpoint, AnEditedManifestFailsItsOwnChecksum) {
  TempDir dir;
  const std::string ck = save_checkpoint(dir.path(), sample_state(5), 3);
  const auto manifest = nlohmann::json::parse(std::ifstream(ck + "/manifest.json"));
  auto edited = manifest;
  edited["step"] = 6;  // a plausible value: only the checksum can tell
  std::ofstream(ck + "/manifest.json") << edited.dump(1);
  EXPECT_NE(load_error(ck).find("manifest.json fails its checksum"), std::string::npos)
      << load_error(ck);
  // A shape edited in a manifest without the checksum is caught against the tensor.
  auto reshaped = manifest;
  reshaped.erase("manifest_crc32");
  reshaped["networks"][0]["tensors"][0]["shape"] = {1, 2, 3};
  std::ofstream(ck + "/manifest.json") << reshaped.dump(1);
  EXPECT_NE(load_error(ck).find("manifest.json does not match state.pt"), std::string::npos)
      << load_error(ck);
}

TEST(NetworkState, RestoresModelAndMomentumExactlyAndRejectsOtherShapes) {
  ModelSpec spec{"mlp"};
  spec.widths = {16};
  torch::manual_seed(1);
  auto a = build_model(spec);
  NetworkConfig cfg;
  auto opt_a = make_optimizer(cfg, a->parameters());
  a->forward(torch::randn({4, 1, 28, 28})).sum().backward();
  opt_a->step();
  const NamedTensors saved = capture_state(*a, *opt_a);

  torch::manual_seed(2);
  auto b = build_model(spec);
  auto opt_b = make_optimizer(cfg, b->parameters());
  restore_state(*b, *opt_b, saved, "test");
  const NamedTensors again = capture_state(*b, *opt_b);
  ASSERT_EQ(again.size(), saved.size());
  for (size_t i = 0; i < saved.size(); ++i) {
    EXPECT_EQ(again[i].first, saved[i].first);
    EXPECT_TRUE(torch::equal(again[i].second, saved[i].second)) << saved[i].first;
  }

  spec.widths = {8};
  auto c = build_model(spec);
  auto opt_c = make_optimizer(cfg, c->parameters());
  try {
    restore_state(*c, *opt_c, saved, "ck");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("shape 16x784"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace cohort
