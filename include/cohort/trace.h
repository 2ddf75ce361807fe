// What each rank did and when, in the Chrome trace event format (opens in
// Perfetto and chrome://tracing): forward, backward, each bucket's allreduce,
// pipeline sends and receives, optimiser steps, evaluations, checkpoints. Off by
// default; when on, a span is one append to a vector, and the events are written
// once, at the end of the run, merged into one file by the leader.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace cohort {

using TraceClock = std::chrono::steady_clock;

// One row per lane in the viewer, under each rank.
enum class TraceLane { Compute = 0, Communication = 1, PointToPoint = 2, Host = 3 };

class TraceRecorder {
 public:
  TraceRecorder() = default;  // disabled: span() does nothing
  // Keeps at most `max_events` (about 100 bytes each); later spans are counted
  // as dropped, so a long run cannot exhaust memory.
  explicit TraceRecorder(int rank, int64_t max_events = 1'000'000);

  bool enabled() const { return enabled_; }
  int rank() const { return rank_; }
  // `args_json` is empty or a JSON object shown with the event.
  void span(std::string name, TraceLane lane, TraceClock::time_point start,
            TraceClock::time_point end, std::string args_json = "");
  int64_t size() const { return int64_t(events_.size()); }
  int64_t dropped() const { return dropped_; }

  // This rank's events as a JSON array. Timestamps are microseconds of
  // steady_clock, one clock for every process on a host.
  std::string events_json() const;

 private:
  struct Event {
    std::string name;
    TraceLane lane;
    int64_t start_us;
    int64_t duration_us;
    std::string args;
  };
  bool enabled_ = false;
  int rank_ = 0;
  int64_t max_events_ = 0;
  int64_t dropped_ = 0;
  std::vector<Event> events_;
};

// One trace from every rank's events_json() (index = rank): names each rank's
// process and lanes, returns {"traceEvents": [...], "displayTimeUnit": "ms"}.
// Error when an input is not a JSON array.
std::string merge_traces(const std::vector<std::string>& rank_events);

}  // namespace cohort
