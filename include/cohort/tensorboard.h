// TensorBoard event files, so `tensorboard --logdir RUN/tensorboard` shows a run:
// TFRecord framing (length, masked CRC-32C of the length, the record, masked
// CRC-32C of the record) around Event protocol buffers encoded by libprotobuf.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

namespace cohort {

// CRC-32C (Castagnoli), masked as TFRecord stores it: rotate right by 15, add
// 0xa282ead8. From Boost.CRC.
uint32_t crc32c(const void* data, size_t size);
uint32_t masked_crc32c(const void* data, size_t size);

class TensorBoardWriter {
 public:
  // Creates `dir` and dir/events.out.tfevents.<seconds>.<host>, starting with the
  // file-version event TensorBoard expects. InputError when it cannot.
  explicit TensorBoardWriter(const std::string& dir);
  ~TensorBoardWriter();
  TensorBoardWriter(const TensorBoardWriter&) = delete;
  TensorBoardWriter& operator=(const TensorBoardWriter&) = delete;

  void scalar(const std::string& tag, double value, int64_t step);
  void flush();
  const std::string& path() const { return path_; }

 private:
  void write_record(const std::string& bytes);
  std::string path_;
  std::FILE* file_ = nullptr;
};

struct TensorBoardScalar {
  std::string tag;
  double value;
  int64_t step;
  double wall_time;
};

// Every scalar of an event file, checking each record's length and CRCs.
// InputError naming the offset of the first damaged record.
std::vector<TensorBoardScalar> read_tensorboard_scalars(const std::string& path);

}  // namespace cohort
