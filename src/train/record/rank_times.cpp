#include "train/record/rank_times.h"

#include <algorithm>
#include <iterator>

namespace cohort {

RankTimes compare_ranks(std::vector<double> busy_seconds, double threshold) {
  RankTimes out;
  out.busy_seconds = std::move(busy_seconds);
  const auto& busy = out.busy_seconds;
  if (busy.size() < 2) return out;
  out.slowest = int(std::distance(busy.begin(), std::max_element(busy.begin(), busy.end())));
  std::vector<double> others;
  for (size_t r = 0; r < busy.size(); ++r)
    if (int(r) != out.slowest) others.push_back(busy[r]);
  std::sort(others.begin(), others.end());
  const size_t n = others.size();
  const double median = n % 2 ? others[n / 2] : (others[n / 2 - 1] + others[n / 2]) / 2;
  // A rank that did nothing measurable (an idle interval) is no yardstick.
  out.over_others = median > 0 ? busy[out.slowest] / median : 1.0;
  out.straggler = out.over_others >= threshold;
  return out;
}

}  // namespace cohort
