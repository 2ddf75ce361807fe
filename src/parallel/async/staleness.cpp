#include "cohort/async/staleness.h"

#include <algorithm>
#include <limits>

namespace cohort {

StalenessGate::StalenessGate(int workers, int64_t bound)
    : bound_(bound), clock_(workers, 0), live_(workers, true) {}

void StalenessGate::pushed(int worker, int64_t step) {
  clock_.at(worker) = std::max(clock_.at(worker), step + 1);
}

void StalenessGate::retire(int worker) { live_.at(worker) = false; }

int64_t StalenessGate::slowest() const {
  int64_t slowest = std::numeric_limits<int64_t>::max();
  for (size_t w = 0; w < clock_.size(); ++w)
    if (live_[w]) slowest = std::min(slowest, clock_[w]);
  return slowest;
}

int64_t StalenessGate::lead(int64_t step) const { return std::max<int64_t>(0, step - slowest()); }

bool StalenessGate::may_start(int64_t step) const { return bound_ < 0 || lead(step) <= bound_; }

int StalenessGate::live() const { return int(std::count(live_.begin(), live_.end(), true)); }

}  // namespace cohort
