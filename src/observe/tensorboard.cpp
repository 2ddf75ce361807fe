#include "cohort/tensorboard.h"

#include <unistd.h>

#include <boost/crc.hpp>
#include <fmt/format.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "cohort/error.h"
#include "tensorboard_event.pb.h"

namespace cohort {
namespace {

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

void put_u64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out += char((v >> (8 * i)) & 0xff);
}
void put_u32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out += char((v >> (8 * i)) & 0xff);
}
uint64_t get_le(const std::string& in, size_t at, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= uint64_t(uint8_t(in[at + i])) << (8 * i);
  return v;
}

}  // namespace

uint32_t crc32c(const void* data, size_t size) {
  boost::crc_optimal<32, 0x1EDC6F41, 0xFFFFFFFF, 0xFFFFFFFF, true, true> crc;
  crc.process_bytes(data, size);
  return crc.checksum();
}

uint32_t masked_crc32c(const void* data, size_t size) {
  const uint32_t crc = crc32c(data, size);
  return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

TensorBoardWriter::TensorBoardWriter(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  char host[256] = "localhost";
  ::gethostname(host, sizeof host - 1);
  path_ = fmt::format("{}/events.out.tfevents.{}.{}", dir, int64_t(now_seconds()), host);
  file_ = std::fopen(path_.c_str(), "ab");
  if (!file_) {
    throw InputError(fmt::format("cannot write TensorBoard events to {}: {}", path_,
                                 std::strerror(errno)));
  }
  tensorboard::Event event;
  event.set_wall_time(now_seconds());
  event.set_file_version("brain.Event:2");
  write_record(event.SerializeAsString());
  flush();
}

TensorBoardWriter::~TensorBoardWriter() {
  if (file_) std::fclose(file_);
}

void TensorBoardWriter::scalar(const std::string& tag, double value, int64_t step) {
  tensorboard::Event event;
  event.set_wall_time(now_seconds());
  event.set_step(step);
  auto* v = event.mutable_summary()->add_value();
  v->set_tag(tag);
  v->set_simple_value(float(value));
  write_record(event.SerializeAsString());
}

void TensorBoardWriter::flush() { std::fflush(file_); }

void TensorBoardWriter::write_record(const std::string& bytes) {
  std::string header;
  put_u64(header, bytes.size());
  std::string frame = header;
  put_u32(frame, masked_crc32c(header.data(), header.size()));
  frame += bytes;
  put_u32(frame, masked_crc32c(bytes.data(), bytes.size()));
  std::fwrite(frame.data(), 1, frame.size(), file_);
}

std::vector<TensorBoardScalar> read_tensorboard_scalars(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(fmt::format("{} does not exist or cannot be read", path));
  const std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<TensorBoardScalar> out;
  for (size_t at = 0; at < data.size();) {
    auto damaged = [&](const char* what) {
      return InputError(fmt::format("{}: record at byte {} {}", path, at, what));
    };
    if (data.size() - at < 12) throw damaged("is truncated");
    const uint64_t length = get_le(data, at, 8);
    if (get_le(data, at + 8, 4) != masked_crc32c(data.data() + at, 8)) throw damaged("fails its length CRC");
    if (data.size() - at - 12 < length + 4) throw damaged("is truncated");
    const char* record = data.data() + at + 12;
    if (get_le(data, at + 12 + length, 4) != masked_crc32c(record, length)) throw damaged("fails its CRC");
    tensorboard::Event event;
    if (!event.ParseFromArray(record, int(length))) throw damaged("is not an Event");
    for (const auto& v : event.summary().value()) {
      out.push_back({v.tag(), v.simple_value(), event.step(), event.wall_time()});
    }
    at += 12 + length + 4;
  }
  return out;
}

}  // namespace cohort
