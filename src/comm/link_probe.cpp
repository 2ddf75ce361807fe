#include "comm/link_probe.h"

#include <ATen/ops/ones.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <exception>
#include <filesystem>
#include <thread>
#include <vector>

#include "cohort/rendezvous.h"
#include "util/middle_value.h"

namespace cohort {
namespace {

// Rank 0's medians; both ranks take part in every allreduce.
std::vector<double> time_sizes(const CommunicatorPtr& comm, const std::vector<int64_t>& sizes,
                               int repeats) {
  std::vector<double> medians;
  for (int64_t bytes : sizes) {
    at::Tensor t = at::ones({std::max<int64_t>(1, bytes / 4)});
    std::vector<double> times;
    for (int i = 0; i < repeats + 3; ++i) {
      comm->barrier();
      const auto start = std::chrono::steady_clock::now();
      comm->allreduce(t);
      const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
      if (i >= 3) times.push_back(took.count());  // the first ones connect and allocate
    }
    medians.push_back(middle_value(std::move(times)));
  }
  return medians;
}

}  // namespace

AllreduceTimes time_loopback_allreduces(int64_t large_bytes, int repeats) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("cohort-link-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string store = (dir / "store").string();
  const std::vector<int64_t> sizes{4, large_bytes};
  std::vector<double> medians;
  std::exception_ptr failure[2];
  auto rank = [&](int r) {
    try {
      WorldInfo world;
      world.rank = world.local_rank = r;
      world.world_size = world.local_world_size = 2;
      world.job_id = "link-probe";
      auto comm = init_world_file(store, world, std::chrono::seconds(30));
      auto got = time_sizes(comm, sizes, repeats);
      if (r == 0) medians = std::move(got);
    } catch (...) {
      failure[r] = std::current_exception();
    }
  };
  std::thread other(rank, 1);
  rank(0);
  other.join();
  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
  for (const auto& f : failure)
    if (f) std::rethrow_exception(f);
  return {2, double(sizes[0]), medians[0], double(sizes[1]), medians[1]};
}

}  // namespace cohort
