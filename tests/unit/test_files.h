// Small helpers for tests that need files: a private temporary folder, removed
// when the test ends, and raw IDX files written byte by byte.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace cohort::testing {

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "cohort-test-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

inline void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
}

// An unsigned-byte IDX file with the given dimensions and element values 0, 1, ...
inline std::vector<uint8_t> idx_bytes(const std::vector<uint32_t>& dims) {
  std::vector<uint8_t> out = {0, 0, 0x08, uint8_t(dims.size())};
  size_t count = 1;
  for (uint32_t d : dims) {
    out.insert(out.end(), {uint8_t(d >> 24), uint8_t(d >> 16), uint8_t(d >> 8), uint8_t(d)});
    count *= d;
  }
  for (size_t i = 0; i < count; ++i) out.push_back(uint8_t(i % 251));
  return out;
}

}  // namespace cohort::testing
