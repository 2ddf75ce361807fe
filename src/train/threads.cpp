#include "train/threads.h"

#include <ATen/Parallel.h>

#include <cstdlib>
#include <string>
#include <thread>

namespace cohort {

int64_t configure_threads(int64_t configured, int local_processes) {
  int64_t threads = configured;
  if (threads <= 0) {
    const int64_t local = std::max(1, local_processes);
    threads = std::max<int64_t>(1, int64_t(std::thread::hardware_concurrency()) / local);
  }
  at::set_num_threads(static_cast<int>(threads));
  return threads;
}

}  // namespace cohort
