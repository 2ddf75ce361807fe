// IDX format (LeCun's MNIST files): 0x00 0x00 <type> <rank>, then rank big-endian
// uint32 dimensions, then the elements big-endian. Files may be gzip; bytes are
// parsed in memory so a file and a buffer take the same path.
#include <ATen/ATen.h>
#include <fmt/format.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <string_view>
#include <vector>

#include "cohort/data.h"
#include "cohort/error.h"

namespace cohort {
namespace {

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};

struct IdxType {
  at::ScalarType scalar;
  int bytes;
};

IdxType idx_type(uint8_t code, const std::string& origin) {
  switch (code) {
    case 0x08:
      return {at::kByte, 1};
    case 0x09:
      return {at::kChar, 1};
    case 0x0B:
      return {at::kShort, 2};
    case 0x0C:
      return {at::kInt, 4};
    case 0x0D:
      return {at::kFloat, 4};
    case 0x0E:
      return {at::kDouble, 8};
  }
  throw InputError(fmt::format(
      "{}: not an IDX file: unknown element type 0x{:02x} (expected 0x08 for unsigned bytes)",
      origin, code));
}

bool is_gzip(std::string_view bytes) {
  return bytes.size() >= 2 && uint8_t(bytes[0]) == 0x1f && uint8_t(bytes[1]) == 0x8b;
}

// The bytes of an IDX file as a stream: inflated as they are read when they are
// gzip, passed through otherwise (what gzread does for a file).
class IdxStream {
 public:
  IdxStream(std::string_view bytes, const std::string& origin)
      : bytes_(bytes), origin_(origin), gzip_(is_gzip(bytes)) {
    if (!gzip_) return;
    if (bytes.size() > UINT32_MAX) {
      throw InputError(fmt::format("{}: gzip input over 4 GiB is not supported", origin));
    }
    z_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data()));
    z_.avail_in = static_cast<uInt>(bytes.size());
    // 16 + MAX_WBITS: a gzip header and trailer around the deflate stream.
    if (inflateInit2(&z_, 16 + MAX_WBITS) != Z_OK) throw std::bad_alloc();
  }
  ~IdxStream() {
    if (gzip_) inflateEnd(&z_);
  }
  IdxStream(const IdxStream&) = delete;
  IdxStream& operator=(const IdxStream&) = delete;

  // Reads exactly n bytes or explains what is wrong with the input.
  void read_exact(void* out, size_t n, const std::string& what) {
    size_t done = 0;
    while (done < n) {
      const size_t got = read_some(static_cast<uint8_t*>(out) + done, n - done, what);
      if (got == 0) {
        throw InputError(fmt::format("{}: truncated: {} needs {} bytes, file ended after {}",
                                     origin_, what, n, done));
      }
      done += got;
    }
  }

  // At least the number of bytes still to come, so that a header's claim can be
  // checked before it is allocated.
  size_t max_remaining() const {
    if (!gzip_) return bytes_.size() - pos_;
    // Deflate expands at most 1032:1; the slack covers output inflate holds back
    // (the rest of a match).
    return size_t(z_.avail_in) * 1032 + (1u << 16);
  }

  bool at_end() {
    uint8_t extra;
    return read_some(&extra, 1, "the end of the data") == 0;
  }

 private:
  // Up to n bytes; 0 only at the end of the input.
  size_t read_some(uint8_t* out, size_t n, const std::string& what) {
    if (!gzip_) {
      const size_t got = std::min(n, bytes_.size() - pos_);
      if (got > 0) std::memcpy(out, bytes_.data() + pos_, got);  // data() may be null
      pos_ += got;
      return got;
    }
    for (;;) {
      if (member_done_) {
        // Like gzread: another gzip member continues the data, anything else ends it.
        if (z_.avail_in < 2 || z_.next_in[0] != 0x1f || z_.next_in[1] != 0x8b) return 0;
        inflateReset(&z_);
        member_done_ = false;
      }
      const uInt chunk = static_cast<uInt>(std::min<size_t>(n, 1u << 30));
      z_.next_out = out;
      z_.avail_out = chunk;
      const int rc = inflate(&z_, Z_NO_FLUSH);
      const size_t got = chunk - z_.avail_out;
      if (rc == Z_STREAM_END) {
        member_done_ = true;
      } else if (rc == Z_BUF_ERROR && z_.avail_in == 0) {
        throw InputError(fmt::format("{}: corrupt file while reading {}: unexpected end of file",
                                     origin_, what));
      } else if (rc != Z_OK) {
        throw InputError(fmt::format("{}: corrupt file while reading {}: {}", origin_, what,
                                     z_.msg ? z_.msg : zError(rc)));
      }
      if (got > 0) return got;
    }
  }

  std::string_view bytes_;
  const std::string& origin_;
  bool gzip_;
  size_t pos_ = 0;  // plain input only
  z_stream z_{};
  bool member_done_ = false;
};

uint32_t big_endian_u32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

}  // namespace

at::Tensor parse_idx(std::string_view bytes, const std::string& origin) {
  IdxStream in(bytes, origin);
  uint8_t magic[4];
  in.read_exact(magic, 4, "the magic number");
  if (magic[0] != 0 || magic[1] != 0) {
    throw InputError(fmt::format("{}: not an IDX file: bad magic number {:02x}{:02x}{:02x}{:02x}",
                                 origin, magic[0], magic[1], magic[2], magic[3]));
  }
  const IdxType type = idx_type(magic[2], origin);
  const int rank = magic[3];
  if (rank < 1 || rank > 4) {
    throw InputError(fmt::format("{}: IDX rank {} is outside 1..4", origin, rank));
  }
  std::vector<uint8_t> dims_raw(static_cast<size_t>(rank) * 4);
  in.read_exact(dims_raw.data(), dims_raw.size(), "the dimensions");
  std::vector<int64_t> dims(rank);
  int64_t count = 1;
  for (int i = 0; i < rank; ++i) {
    dims[i] = big_endian_u32(&dims_raw[i * 4]);
    if (dims[i] == 0) throw InputError(fmt::format("{}: dimension {} is zero", origin, i));
    // Fashion-MNIST is 47 MB; refuse sizes that could only come from corruption
    // before allocating.
    if (count > (int64_t{1} << 34) / dims[i]) {
      throw InputError(
          fmt::format("{}: dimensions claim more than 16 GiB: corrupt header", origin));
    }
    count *= dims[i];
  }
  const size_t data_bytes = static_cast<size_t>(count) * type.bytes;
  // A few corrupt header bytes must not cost gigabytes of memory.
  if (data_bytes > in.max_remaining()) {
    throw InputError(fmt::format(
        "{}: truncated: the header declares {} elements ({} bytes), more than the file holds",
        origin, count, data_bytes));
  }
  at::Tensor out = at::empty(dims, at::TensorOptions().dtype(type.scalar));
  in.read_exact(out.data_ptr(), data_bytes, fmt::format("{} elements", count));
  if (!in.at_end()) {
    throw InputError(fmt::format(
        "{}: corrupt: data continues past the {} elements the header declares", origin, count));
  }
  if (type.bytes > 1) {
    // IDX is big-endian; swap in place on little-endian hosts.
    auto* data = static_cast<uint8_t*>(out.data_ptr());
    for (int64_t i = 0; i < count; ++i) {
      std::reverse(data + i * type.bytes, data + (i + 1) * type.bytes);
    }
  }
  return out;
}

at::Tensor read_idx(const std::string& path) {
  std::unique_ptr<std::FILE, FileCloser> file(std::fopen(path.c_str(), "rb"));
  if (!file) {
    throw InputError(fmt::format("{}: cannot open: {} (check the path, or set data.path)", path,
                                 std::strerror(errno)));
  }
  std::string bytes;
  char buffer[1 << 16];
  for (size_t got; (got = std::fread(buffer, 1, sizeof buffer, file.get())) > 0;) {
    bytes.append(buffer, got);
  }
  if (std::ferror(file.get())) {
    throw InputError(fmt::format("{}: cannot read: {}", path, std::strerror(errno)));
  }
  return parse_idx(bytes, path);
}

}  // namespace cohort
