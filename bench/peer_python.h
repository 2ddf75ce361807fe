// The Python that runs the peers: the one whose torch Cohort was built against
// (CMake's COHORT_PYTHON, the repository's .venv by default), or $COHORT_PYTHON.
#pragma once

#include <cstdlib>
#include <string>

#include "bench_paths.h"

inline std::string peer_python() {
  const char* chosen = std::getenv("COHORT_PYTHON");
  return chosen && *chosen ? chosen : COHORT_PYTHON;
}
