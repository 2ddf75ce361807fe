// IDX format (LeCun's MNIST files): 0x00 0x00 <type> <rank>, then rank big-endian
// uint32 dimensions, then the elements big-endian. Read through zlib so gzip and
// plain files are handled alike (gzread passes plain files through).
#include <zlib.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <fmt/format.h>

#include "cohort/data.h"
#include "cohort/error.h"

namespace cohort {
namespace {

struct GzCloser {
  void operator()(gzFile_s* f) const { gzclose(f); }
};

struct IdxType {
  at::ScalarType scalar;
  int bytes;
};

IdxType idx_type(uint8_t code, const std::string& path) {
  switch (code) {
    case 0x08: return {at::kByte, 1};
    case 0x09: return {at::kChar, 1};
    case 0x0B: return {at::kShort, 2};
    case 0x0C: return {at::kInt, 4};
    case 0x0D: return {at::kFloat, 4};
    case 0x0E: return {at::kDouble, 8};
  }
  throw InputError(fmt::format("{}: not an IDX file: unknown element type 0x{:02x} "
                               "(expected 0x08 for unsigned bytes)", path, code));
}

// Reads exactly n bytes or explains what is wrong with the file.
void read_exact(gzFile file, void* out, size_t n, const std::string& path, const char* what) {
  size_t done = 0;
  while (done < n) {
    const unsigned chunk = static_cast<unsigned>(std::min<size_t>(n - done, 1u << 30));
    const int got = gzread(file, static_cast<char*>(out) + done, chunk);
    if (got < 0) {
      int errnum = 0;
      const char* msg = gzerror(file, &errnum);
      throw InputError(fmt::format("{}: corrupt file while reading {}: {}", path, what, msg));
    }
    if (got == 0) {
      throw InputError(fmt::format("{}: truncated: {} needs {} bytes, file ended after {}", path,
                                   what, n, done));
    }
    done += static_cast<size_t>(got);
  }
}

uint32_t big_endian_u32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

}  // namespace

at::Tensor read_idx(const std::string& path) {
  std::unique_ptr<gzFile_s, GzCloser> file(gzopen(path.c_str(), "rb"));
  if (!file) {
    throw InputError(fmt::format("{}: cannot open: {} (check the path, or set data.path)", path,
                                 std::strerror(errno)));
  }
  uint8_t magic[4];
  read_exact(file.get(), magic, 4, path, "the magic number");
  if (magic[0] != 0 || magic[1] != 0) {
    throw InputError(fmt::format("{}: not an IDX file: bad magic number {:02x}{:02x}{:02x}{:02x}",
                                 path, magic[0], magic[1], magic[2], magic[3]));
  }
  const IdxType type = idx_type(magic[2], path);
  const int rank = magic[3];
  if (rank < 1 || rank > 4) {
    throw InputError(fmt::format("{}: IDX rank {} is outside 1..4", path, rank));
  }
  std::vector<uint8_t> dims_raw(static_cast<size_t>(rank) * 4);
  read_exact(file.get(), dims_raw.data(), dims_raw.size(), path, "the dimensions");
  std::vector<int64_t> dims(rank);
  int64_t count = 1;
  for (int i = 0; i < rank; ++i) {
    dims[i] = big_endian_u32(&dims_raw[i * 4]);
    if (dims[i] == 0) throw InputError(fmt::format("{}: dimension {} is zero", path, i));
    // Fashion-MNIST is 47 MB; refuse sizes that could only come from corruption
    // before allocating.
    if (count > (int64_t{1} << 34) / dims[i]) {
      throw InputError(fmt::format("{}: dimensions claim more than 16 GiB: corrupt header", path));
    }
    count *= dims[i];
  }
  at::Tensor out = at::empty(dims, at::TensorOptions().dtype(type.scalar));
  read_exact(file.get(), out.data_ptr(), static_cast<size_t>(count) * type.bytes, path,
             fmt::format("{} elements", count).c_str());
  char extra;
  if (gzread(file.get(), &extra, 1) > 0) {
    throw InputError(fmt::format("{}: corrupt: data continues past the {} elements the header "
                                 "declares", path, count));
  }
  if (type.bytes > 1) {
    // IDX is big-endian; swap in place on little-endian hosts.
    auto* bytes = static_cast<uint8_t*>(out.data_ptr());
    for (int64_t i = 0; i < count; ++i) std::reverse(bytes + i * type.bytes, bytes + (i + 1) * type.bytes);
  }
  return out;
}

}  // namespace cohort
