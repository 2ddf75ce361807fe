#include <gtest/gtest.h>
#include <zlib.h>

#include <ATen/ATen.h>

#include "cohort/data.h"
#include "cohort/error.h"
#include "test_files.h"

namespace cohort {
namespace {

using testing::idx_bytes;
using testing::TempDir;
using testing::write_bytes;

void expect_input_error(const std::string& path, const std::string& fragment) {
  try {
    read_idx(path);
    FAIL() << "expected an InputError for " << path;
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << "must name the file";
  }
}

TEST(Idx, ReadsPlainAndGzipAlike) {
  TempDir dir;
  const auto bytes = idx_bytes({3, 2, 2});
  write_bytes(dir.file("plain"), bytes);
  gzFile gz = gzopen(dir.file("packed.gz").c_str(), "wb");
  gzwrite(gz, bytes.data(), unsigned(bytes.size()));
  gzclose(gz);
  const at::Tensor a = read_idx(dir.file("plain"));
  const at::Tensor b = read_idx(dir.file("packed.gz"));
  EXPECT_EQ(a.sizes().vec(), (std::vector<int64_t>{3, 2, 2}));
  EXPECT_TRUE(at::equal(a, b));
  EXPECT_EQ(a.flatten()[5].item<int>(), 5);
}

TEST(Idx, RejectsBadFilesWithTheReason) {
  TempDir dir;
  auto bytes = idx_bytes({4, 3});
  write_bytes(dir.file("truncated"), {bytes.begin(), bytes.end() - 2});
  expect_input_error(dir.file("truncated"), "truncated");
  auto bad_magic = bytes;
  bad_magic[0] = 0x1f;
  bad_magic[1] = 0x00;
  write_bytes(dir.file("magic"), bad_magic);
  expect_input_error(dir.file("magic"), "magic");
  auto bad_type = bytes;
  bad_type[2] = 0x42;
  write_bytes(dir.file("type"), bad_type);
  expect_input_error(dir.file("type"), "element type");
  auto long_file = bytes;
  long_file.push_back(7);
  write_bytes(dir.file("long"), long_file);
  expect_input_error(dir.file("long"), "past the");
  write_bytes(dir.file("header"), {0, 0, 8});
  expect_input_error(dir.file("header"), "truncated");
  expect_input_error(dir.file("missing"), "cannot open");
  auto huge = idx_bytes({1, 1});
  huge[4] = huge[5] = huge[8] = huge[9] = 0xff;
  write_bytes(dir.file("huge"), huge);
  expect_input_error(dir.file("huge"), "16 GiB");
  // A gzip stream cut short: zlib reports it, we name the file.
  const auto real = idx_bytes({50, 40});
  std::vector<uint8_t> packed(compressBound(real.size()) + 32);
  gzFile gz = gzopen(dir.file("cut.gz").c_str(), "wb");
  gzwrite(gz, real.data(), unsigned(real.size()));
  gzclose(gz);
  std::ifstream in(dir.file("cut.gz"), std::ios::binary);
  std::vector<uint8_t> whole((std::istreambuf_iterator<char>(in)), {});
  write_bytes(dir.file("cut.gz"), {whole.begin(), whole.begin() + long(whole.size() / 2)});
  EXPECT_THROW(read_idx(dir.file("cut.gz")), InputError);
}

TEST(Idx, AHeaderCannotClaimMoreThanTheBytesHold) {
  // Found by fuzz/idx_fuzzer: these 20 bytes declare 2.4 billion floats, and 9 GB
  // were allocated before the data was found missing.
  const std::string claim("\0\0\x0d\x01\x8d\0\0\x03\0\0\0\0\0\0\0\x01\0\0\0\x02", 20);
  try {
    parse_idx(claim, "claim.idx");
    FAIL() << "expected an InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("more than the file holds"), std::string::npos)
        << e.what();
  }
  // Compressed, a header can promise at most what deflate's 1032:1 ratio allows.
  TempDir dir;
  std::vector<uint8_t> packed = {0, 0, 0x08, 3, 0, 0, 0x03, 0xe8, 0, 0, 0x03, 0xe8, 0, 0, 0, 100};
  packed.resize(packed.size() + 1000);  // 1000 of the 100 million bytes declared
  gzFile gz = gzopen(dir.file("claim.gz").c_str(), "wb");
  gzwrite(gz, packed.data(), unsigned(packed.size()));
  gzclose(gz);
  expect_input_error(dir.file("claim.gz"), "more than the file holds");
}

TEST(Dataset, LoadsFashionMnistNormalised) {
  const auto test = load_dataset(default_data_folder(), Split::Test);
  EXPECT_EQ(test->inputs().sizes().vec(), (std::vector<int64_t>{10000, 1, 28, 28}));
  EXPECT_EQ(test->targets().size(0), 10000);
  EXPECT_TRUE(test->inputs().is_contiguous());
  // Normalised with the training statistics: the test split is near mean 0, std 1.
  EXPECT_NEAR(test->inputs().mean().item<double>(), 0.0, 0.05);
  EXPECT_NEAR(test->inputs().std().item<double>(), 1.0, 0.05);
  EXPECT_EQ(test->targets().bincount().min().item<int64_t>(), 1000);  // balanced classes
  const SampleSpec spec = test->spec();
  EXPECT_EQ(spec.input_shape, (std::vector<int64_t>{1, 28, 28}));
  EXPECT_EQ(spec.outputs, 10);
}

TEST(Dataset, MissingFolderOrFileIsAnInputError) {
  TempDir dir;
  EXPECT_THROW(load_dataset(dir.file("nope"), Split::Train), InputError);
  EXPECT_THROW(load_dataset(dir.path(), Split::Train), InputError);
}

TEST(Sampler, ShardsAreDisjointAndCoverTheEpoch) {
  for (int world : {1, 2, 3, 4}) {
    std::vector<at::Tensor> shards;
    for (int r = 0; r < world; ++r) {
      shards.push_back(ShardedSampler(1000, r, world, 7, true, ShardedSampler::Tail::Drop).indices(3));
    }
    const at::Tensor all = at::cat(shards);
    EXPECT_EQ(all.size(0), 1000 / world * world);
    EXPECT_EQ(std::get<0>(at::_unique(all)).size(0), all.size(0)) << "shards overlap, world " << world;
  }
}

TEST(Sampler, PaddingGivesEveryRankTheSameCount) {
  std::vector<int64_t> sizes;
  for (int r = 0; r < 3; ++r) {
    ShardedSampler s(10, r, 3, 1, true, ShardedSampler::Tail::Pad);
    sizes.push_back(s.indices(0).size(0));
    EXPECT_EQ(s.samples_per_rank(), 4);
  }
  EXPECT_EQ(sizes, (std::vector<int64_t>{4, 4, 4}));
}

TEST(Sampler, DeterministicPerEpochAndReshuffledAcrossEpochs) {
  ShardedSampler a(500, 0, 1, 42), b(500, 0, 1, 42), c(500, 0, 1, 43);
  EXPECT_TRUE(at::equal(a.indices(0), b.indices(0)));
  EXPECT_FALSE(at::equal(a.indices(0), a.indices(1)));
  EXPECT_FALSE(at::equal(a.indices(0), c.indices(0)));
  EXPECT_THROW(ShardedSampler(10, 2, 2, 0), InputError);
}

TEST(Batch, IsAGatherOfTheEpochOrder) {
  const TensorDataset d(at::arange(20, at::kFloat).reshape({10, 1, 2, 1}), at::arange(10, at::kLong),
                        10);
  const at::Tensor order = at::tensor({9, 3, 5, 1, 0}, at::kLong);
  const Batch b = make_batch(d, order, 1, 2);
  EXPECT_TRUE(at::equal(b.targets, at::tensor({5, 1}, at::kLong)));
  EXPECT_TRUE(b.inputs.is_contiguous());
  const Batch tail = make_batch(d, order, 2, 2);
  EXPECT_EQ(tail.targets.size(0), 1);
}

}  // namespace
}  // namespace cohort
