#include "cohort/trace.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cohort/error.h"

namespace cohort {
namespace {

int64_t micros(TraceClock::time_point t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}

const char* lane_name(int lane) {
  switch (lane) {
    case int(TraceLane::Compute): return "compute";
    case int(TraceLane::Communication): return "collectives";
    case int(TraceLane::PointToPoint): return "send / recv";
    default: return "host";
  }
}

}  // namespace

TraceRecorder::TraceRecorder(int rank, int64_t max_events)
    : enabled_(true), rank_(rank), max_events_(max_events) {
  events_.reserve(size_t(std::min<int64_t>(max_events, 4096)));
}

void TraceRecorder::span(std::string name, TraceLane lane, TraceClock::time_point start,
                         TraceClock::time_point end, std::string args_json) {
  if (!enabled_) return;
  if (int64_t(events_.size()) >= max_events_) {
    ++dropped_;
    return;
  }
  const int64_t s = micros(start);
  events_.push_back({std::move(name), lane, s, std::max<int64_t>(0, micros(end) - s),
                     std::move(args_json)});
}

std::string TraceRecorder::events_json() const {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& e : events_) {
    nlohmann::json event = {{"name", e.name}, {"ph", "X"},       {"pid", rank_},
                            {"tid", int(e.lane)}, {"ts", e.start_us}, {"dur", e.duration_us}};
    if (!e.args.empty()) event["args"] = nlohmann::json::parse(e.args);
    out.push_back(std::move(event));
  }
  if (dropped_ > 0) {
    out.push_back({{"name", fmt::format("{} events dropped (trace full)", dropped_)},
                   {"ph", "i"}, {"s", "p"}, {"pid", rank_}, {"tid", int(TraceLane::Host)},
                   {"ts", events_.empty() ? 0 : events_.back().start_us}});
  }
  return out.dump();
}

std::string merge_traces(const std::vector<std::string>& rank_events) {
  nlohmann::json events = nlohmann::json::array();
  for (size_t rank = 0; rank < rank_events.size(); ++rank) {
    nlohmann::json mine = nlohmann::json::parse(rank_events[rank], nullptr, false);
    if (!mine.is_array()) {
      throw Error(fmt::format("trace of rank {} is not a JSON array of events", rank));
    }
    events.push_back({{"name", "process_name"}, {"ph", "M"}, {"pid", rank},
                      {"args", {{"name", fmt::format("rank {}", rank)}}}});
    events.push_back({{"name", "process_sort_index"}, {"ph", "M"}, {"pid", rank},
                      {"args", {{"sort_index", rank}}}});
    for (int lane = 0; lane <= int(TraceLane::Host); ++lane) {
      events.push_back({{"name", "thread_name"}, {"ph", "M"}, {"pid", rank}, {"tid", lane},
                        {"args", {{"name", lane_name(lane)}}}});
    }
    for (auto& e : mine) events.push_back(std::move(e));
  }
  return nlohmann::json{{"traceEvents", events}, {"displayTimeUnit", "ms"}}.dump();
}

}  // namespace cohort
