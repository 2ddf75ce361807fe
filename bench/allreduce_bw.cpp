// Allreduce bandwidth through the Cohort communication layer. Run under
// `cohort launch` (see allreduce_bw.sh, which also runs the Python peer); the
// measurement mirrors the peer's exactly: barrier, one timed allreduce, median
// of `iters` after `warmup`, algorithm bandwidth = bytes / time.
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "cohort/error.h"
#include "cohort/rendezvous.h"
#include "median.h"

namespace {

std::vector<double> parse_sizes(const std::string& text) {
  std::vector<double> sizes;
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');) sizes.push_back(std::stod(item));
  return sizes;
}

}  // namespace

int main(int argc, char** argv) {
  std::string sizes_text = "1,16,100";
  int iters = 10, warmup = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--sizes-mb")
      sizes_text = argv[i + 1];
    else if (flag == "--iters")
      iters = std::stoi(argv[i + 1]);
    else if (flag == "--warmup")
      warmup = std::stoi(argv[i + 1]);
  }
  torch::set_num_threads(1);  // as the peer: the wire, not the threads, is measured
  try {
    auto world = cohort::world_info_from_environment();
    auto comm = cohort::init_world(world);
    for (double mb : parse_sizes(sizes_text)) {
      auto t = torch::ones({static_cast<int64_t>(mb * 1e6 / 4)});
      std::vector<double> times;
      for (int i = 0; i < warmup + iters; ++i) {
        comm->barrier();
        auto start = std::chrono::steady_clock::now();
        comm->allreduce(t);
        std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
        if (i >= warmup) times.push_back(took.count());
      }
      const double med = median(times);
      if (comm->rank() == 0) {
        nlohmann::json row = {{"impl", "cohort"},
                              {"size_mb", mb},
                              {"world_size", comm->size()},
                              {"median_ms", med * 1e3},
                              {"algbw_gbps", mb * 1e6 / med / 1e9}};
        std::printf("%s\n", row.dump().c_str());
        std::fflush(stdout);
      }
    }
  } catch (const cohort::Error& e) {
    std::fprintf(stderr, "allreduce_bw: %s\n", e.what());
    return e.exit_code();
  }
  return 0;
}
