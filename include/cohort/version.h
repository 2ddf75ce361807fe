// What this Cohort was built against, for `cohort --version` and bug reports.
#pragma once

#include <string>

namespace cohort {

const char* version();

struct BuildInfo {
  std::string cohort;         // Cohort's own version
  std::string libtorch;       // the libtorch headers it was compiled against, "2.15.0"
  bool cuda = false;          // Cohort's CUDA code compiled in (a CUDA libtorch)
  long cuda_runtime = 0;      // CUDA runtime libtorch was built for (13020 = 13.2); 0 if none
  std::string nccl;           // NCCL libtorch links, "2.30.7"; empty without CUDA
  int gpus = 0;               // CUDA devices visible to this process now
};

// Asks libtorch; never initialises a CUDA context and never warns when the
// machine has no GPU or no driver.
BuildInfo build_info();

// "cohort 0.1.0 (libtorch 2.15.0; CUDA 13.2 and NCCL 2.30.7 compiled in; 0 GPUs visible)"
std::string describe(const BuildInfo& info);

}  // namespace cohort
