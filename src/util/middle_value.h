// The middle of a few timings: what a measurement keeps of its repeats.
#pragma once

#include <algorithm>
#include <vector>

namespace cohort {

// The element at n / 2 in sorted order: the median for odd counts, the upper
// of the two middle values for even ones. `values` must not be empty.
inline double middle_value(std::vector<double> values) {
  const auto middle = values.begin() + values.size() / 2;
  std::nth_element(values.begin(), middle, values.end());
  return *middle;
}

}  // namespace cohort
