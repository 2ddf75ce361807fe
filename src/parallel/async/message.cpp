#include "cohort/async/message.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <cstring>

#include "cohort/error.h"

namespace cohort {
namespace {

constexpr int64_t kMagic = 0x434f484f5254;  // "COHORT"

int64_t bits_of(double value) {
  int64_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  return bits;
}

double double_of(int64_t bits) {
  double value;
  std::memcpy(&value, &bits, sizeof value);
  return value;
}

}  // namespace

at::Tensor encode_header(const PsHeader& h) {
  at::Tensor words = at::empty({kPsHeaderWords}, at::kLong);
  auto w = words.accessor<int64_t, 1>();
  w[0] = kMagic;
  w[1] = kPsVersion;
  w[2] = int64_t(h.kind);
  w[3] = h.worker;
  w[4] = h.step;
  w[5] = h.payload;
  w[6] = bits_of(h.lr);
  w[7] = h.lead;
  return words;
}

PsHeader decode_header(const at::Tensor& words) {
  if (words.scalar_type() != at::kLong || words.numel() != kPsHeaderWords)
    throw CommError("parameter-server message: the header is not 8 int64 words");
  auto w = words.accessor<int64_t, 1>();
  if (w[0] != kMagic)
    throw CommError(
        "parameter-server message: bad magic number; is another program sending "
        "on this port?");
  if (w[1] != kPsVersion)
    throw CommError(
        fmt::format("parameter-server message of version {}, this build speaks {}: "
                    "run the same cohort on every rank",
                    w[1], kPsVersion));
  if (w[2] < int64_t(PsKind::Push) || w[2] > int64_t(PsKind::Params))
    throw CommError(fmt::format("parameter-server message of unknown kind {}", w[2]));
  if (w[5] < 0)
    throw CommError(fmt::format("parameter-server message announces {} payload elements", w[5]));
  PsHeader h;
  h.kind = PsKind(w[2]);
  h.worker = w[3];
  h.step = w[4];
  h.payload = w[5];
  h.lr = double_of(w[6]);
  h.lead = w[7];
  return h;
}

void check_payload(const PsHeader& header, int64_t expected, int from_rank) {
  if (header.payload != expected)
    throw CommError(fmt::format(
        "parameter-server message from rank {} announces {} elements where {} were expected: "
        "the ranks disagree on the model; run every rank with the same config",
        from_rank, header.payload, expected));
}

}  // namespace cohort
