// When each bucket of a step became ready, was handed to communication and was
// done, so a benchmark can tell how much communication hid behind backward.
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace cohort {

using DdpClock = std::chrono::steady_clock;

struct BucketTimes {
  DdpClock::time_point ready{};     // its last gradient arrived
  DdpClock::time_point launched{};  // handed to the comm hook
  // First moment the reduction was seen complete: polled whenever a gradient
  // arrives and at synchronize(), so it is late by at most one gradient's
  // backward time (or until synchronize() for the last buckets).
  DdpClock::time_point done{};
};

struct StepTimeline {
  DdpClock::time_point backward_start{};  // the step's first gradient arrived
  DdpClock::time_point backward_end{};    // its last gradient arrived
  DdpClock::time_point synchronized{};    // synchronize() returned
  std::vector<BucketTimes> buckets;       // in launch order

  // Seconds of communication (launch to done, summed over buckets) and the
  // part of it that lies before backward_end: communication hidden behind
  // backward. hidden_share() = hidden / total (0 when nothing was sent).
  double communication_seconds() const;
  double hidden_seconds() const;
  double hidden_share() const;
  // One line of JSON: times in milliseconds since backward_start.
  std::string to_json() const;
};

}  // namespace cohort
