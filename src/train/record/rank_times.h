// Stragglers: which rank is slowest over a logging interval, by its busy time
// (the interval less what it spent waiting for the others: exposed
// communication and pipeline idling), against the other ranks. In a synchronous
// job every rank takes the slowest one's pace, so wall time alone cannot name it.
#pragma once

#include <vector>

namespace cohort {

struct RankTimes {
  std::vector<double> busy_seconds;  // by rank
  int slowest = 0;
  double over_others = 1;  // the slowest rank's busy time over the median of the others'
  bool straggler = false;  // over_others >= the threshold
};

// `busy_seconds` by rank (two or more). A threshold of 1.5: a rank half again as
// busy as the others is slowing them all by a third.
RankTimes compare_ranks(std::vector<double> busy_seconds, double threshold = 1.5);

}  // namespace cohort
