// The parameter-server wire format. Every message is a fixed header of int64s
// (magic, version, kind, worker, step, payload length, learning rate, lead)
// followed, for pushes and replies, by one float32 payload. The receiver checks
// the header, including that the payload length is exactly what it expects,
// before it receives or allocates anything for the payload.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

namespace cohort {

enum class PsKind : int64_t {
  Push = 1,    // worker -> server: gradients of `step`; a Params reply follows
  Pull = 2,    // worker -> server: the latest parameters, now
  Finish = 3,  // worker -> server: done; the final parameters once every worker is done
  Params = 4,  // server -> worker: the shard's parameters
};

struct PsHeader {
  PsKind kind = PsKind::Push;
  int64_t worker = 0;
  int64_t step = 0;
  int64_t payload = 0;  // float32 elements after the header
  double lr = 0;        // Push: the worker's learning rate for `step`
  int64_t lead = 0;     // Params: how far the reader's next step runs ahead of the slowest worker
};

constexpr int64_t kPsHeaderWords = 8;
constexpr int64_t kPsVersion = 1;

at::Tensor encode_header(const PsHeader& header);
// CommError unless `words` is a header of this version with a known kind and a
// payload length of at least 0.
PsHeader decode_header(const at::Tensor& words);
// CommError unless the header announces exactly `expected` payload elements:
// called before the payload is received into a buffer of that size.
void check_payload(const PsHeader& header, int64_t expected, int from_rank);

}  // namespace cohort
