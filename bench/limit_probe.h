// The arithmetic rate libtorch reaches on this machine for one matrix product or
// convolution shape, so benches can report the fraction of the machine's limit they
// reach. bench/machine_limit_peer.py times the same shapes the same way from Python.
#pragma once

#include <ATen/ATen.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

// kind "matmul": dims {m, k, n}, an (m x k) by (k x n) product.
// kind "conv":   dims {batch, in_channels, out_channels, height, width, kernel}, stride 1
//                and "same" padding, as the zoo's convolutions.
struct OpShape {
  std::string name;
  std::string kind;
  std::vector<int64_t> dims;
};

inline double op_flops(const OpShape& shape) {
  double macs = 1;
  for (int64_t d : shape.dims) macs *= double(d);
  if (shape.kind == "conv") macs *= double(shape.dims[5]);  // k x k
  return 2 * macs;
}

// GFLOP/s of the forward op, repeated until min_seconds have passed after two untimed
// calls (the allocator's and the library's first-call work).
inline double measure_gflops(const OpShape& shape, double min_seconds) {
  at::manual_seed(0);
  const auto& d = shape.dims;
  at::Tensor a, b;
  if (shape.kind == "matmul") {
    a = at::randn({d[0], d[1]});
    b = at::randn({d[1], d[2]});
  } else {
    a = at::randn({d[0], d[1], d[3], d[4]});
    b = at::randn({d[2], d[1], d[5], d[5]});
  }
  auto run = [&] {
    return shape.kind == "matmul" ? at::mm(a, b) : at::conv2d(a, b, {}, 1, d[5] / 2);
  };
  for (int i = 0; i < 2; ++i) run();
  using Clock = std::chrono::steady_clock;
  const auto t0 = Clock::now();
  int64_t calls = 0;
  double elapsed = 0;
  do {
    run();
    ++calls;
    elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
  } while (elapsed < min_seconds);
  return op_flops(shape) * double(calls) / elapsed / 1e9;
}

// The machine's limit as benches quote it: the best rate of large square fp32
// products, where MKL's kernels run at their peak.
inline std::vector<OpShape> limit_shapes() {
  return {{"square 1024", "matmul", {1024, 1024, 1024}},
          {"square 2048", "matmul", {2048, 2048, 2048}}};
}

inline double matmul_limit_gflops(double min_seconds) {
  measure_gflops(limit_shapes().front(), 1.0);  // warm-up: see bench/machine_limit.cpp
  double best = 0;
  for (const OpShape& shape : limit_shapes()) {
    const double rate = measure_gflops(shape, min_seconds);
    if (rate > best) best = rate;
  }
  return best;
}
