#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "cohort/error.h"
#include "cohort/metrics.h"
#include "cohort/tensorboard.h"
#include "test_files.h"

namespace cohort {
namespace {

namespace fs = std::filesystem;

std::string only_event_file(const std::string& dir) {
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(dir)) files.push_back(e.path().string());
  EXPECT_EQ(files.size(), 1u);
  EXPECT_NE(files.at(0).find("events.out.tfevents."), std::string::npos);
  return files.at(0);
}

TEST(TensorBoard, Crc32cMatchesTheStandardCheckValue) {
  // RFC 3720 (iSCSI), B.4: CRC-32C of "123456789".
  EXPECT_EQ(crc32c("123456789", 9), 0xE3069283u);
  EXPECT_EQ(crc32c("", 0), 0u);
}

TEST(TensorBoard, ScalarsRoundTripThroughFramedEventRecords) {
  testing::TempDir dir;
  std::string path;
  {
    TensorBoardWriter writer(dir.path() + "/tb");
    writer.scalar("train/loss/mlp", 0.75, 50);
    writer.scalar("eval/test_accuracy/mlp", 0.875, 100);
    path = writer.path();
  }
  EXPECT_EQ(only_event_file(dir.path() + "/tb"), path);
  const auto scalars = read_tensorboard_scalars(path);
  ASSERT_EQ(scalars.size(), 2u);
  EXPECT_EQ(scalars[0].tag, "train/loss/mlp");
  EXPECT_DOUBLE_EQ(scalars[0].value, 0.75);
  EXPECT_EQ(scalars[0].step, 50);
  EXPECT_EQ(scalars[1].step, 100);
  EXPECT_GT(scalars[1].wall_time, 1.7e9);

  // The first record is TensorBoard's file-version event, framed as TFRecord:
  // little-endian length, masked CRC-32C of those 8 bytes, the bytes, their CRC.
  std::ifstream in(path, std::ios::binary);
  const std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  uint64_t length = 0;
  for (int i = 0; i < 8; ++i) length |= uint64_t(uint8_t(data[i])) << (8 * i);
  uint32_t length_crc = 0;
  for (int i = 0; i < 4; ++i) length_crc |= uint32_t(uint8_t(data[8 + i])) << (8 * i);
  EXPECT_EQ(length_crc, masked_crc32c(data.data(), 8));
  EXPECT_NE(data.substr(12, length).find("brain.Event:2"), std::string::npos);
}

TEST(TensorBoard, ADamagedRecordIsReportedWithItsOffset) {
  testing::TempDir dir;
  std::string path;
  {
    TensorBoardWriter writer(dir.path());
    writer.scalar("x", 1, 1);
    path = writer.path();
  }
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(-6, std::ios::end);
  f.put('\x7f');
  f.close();
  try {
    read_tensorboard_scalars(path);
    FAIL() << "a damaged record was accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("fails its CRC"), std::string::npos) << e.what();
  }
}

TEST(TensorBoard, MetricsRecordsBecomeTaggedScalars) {
  testing::TempDir dir;
  {
    MetricsLog log(dir.path() + "/metrics.jsonl");
    log.also_to_tensorboard(dir.path() + "/tb");
    log.write(R"({"kind":"train","network":"mlp","step":50,"epoch":0,"loss":0.5,"lr":0.1,"wall_seconds":3})");
    log.write(R"({"kind":"eval","network":"ensemble","step":100,"test_accuracy":0.9})");
  }
  const auto scalars = read_tensorboard_scalars(only_event_file(dir.path() + "/tb"));
  std::vector<std::string> tags;
  for (const auto& s : scalars) tags.push_back(s.tag);
  EXPECT_EQ(tags, (std::vector<std::string>{"train/loss/mlp", "train/lr/mlp",
                                            "eval/test_accuracy/ensemble"}));
}

}  // namespace
}  // namespace cohort
