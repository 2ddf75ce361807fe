#include "train/process/threads.h"

#include <ATen/Parallel.h>

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <thread>

#include "cohort/error.h"

namespace cohort {

void check_threads(int64_t configured) {
  const int64_t cores = std::max(1u, std::thread::hardware_concurrency());
  if (configured <= cores) return;
  throw InputError(fmt::format(
      "train.threads = {} is more than this machine's {} cores: more threads than cores only wait "
      "for each other (0 picks for you)",
      configured, cores));
}

int64_t configure_threads(int64_t configured, int local_processes) {
  // A config from a larger machine still evaluates here: never more than the cores.
  int64_t threads = std::min<int64_t>(configured, std::max(1u, std::thread::hardware_concurrency()));
  if (threads <= 0) {
    const int64_t local = std::max(1, local_processes);
    threads = std::max<int64_t>(1, int64_t(std::thread::hardware_concurrency()) / local);
  }
  at::set_num_threads(static_cast<int>(threads));
  return threads;
}

}  // namespace cohort
