#include "cohort/messages.h"

#include <fmt/format.h>

#include <cstring>

#include "cohort/error.h"

namespace cohort {

void send_bytes(Communicator& comm, const std::string& bytes, int dst, int tag) {
  at::Tensor size = at::scalar_tensor(int64_t(bytes.size()), at::kLong).reshape({1});
  comm.send(size, dst, tag);
  if (bytes.empty()) return;
  at::Tensor payload = at::empty({int64_t(bytes.size())}, at::kByte);
  std::memcpy(payload.data_ptr(), bytes.data(), bytes.size());
  comm.send(payload, dst, tag);
}

std::string recv_bytes(Communicator& comm, int src, int tag, int64_t max_bytes) {
  at::Tensor size = at::zeros({1}, at::kLong);
  comm.recv(size, src, tag);
  const int64_t n = size.item<int64_t>();
  if (n < 0 || n > max_bytes) {
    throw CommError(fmt::format("a message from rank {} announces {} bytes, more than the {} "
                                "allowed: a mismatched peer or a corrupted message", src, n,
                                max_bytes));
  }
  if (n == 0) return {};
  at::Tensor payload = at::empty({n}, at::kByte);
  comm.recv(payload, src, tag);
  return std::string(static_cast<const char*>(payload.data_ptr()), size_t(n));
}

}  // namespace cohort
