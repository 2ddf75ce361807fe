#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cohort/error.h"
#include "cohort/trace.h"

namespace cohort {
namespace {

TEST(Trace, ADisabledRecorderKeepsNothing) {
  TraceRecorder off;
  const auto t = TraceClock::now();
  off.span("forward", TraceLane::Compute, t, t);
  EXPECT_FALSE(off.enabled());
  EXPECT_EQ(off.size(), 0);
  EXPECT_EQ(off.events_json(), "[]");
}

TEST(Trace, SpansBecomeCompleteEventsInMicroseconds) {
  TraceRecorder trace(3);
  const auto t = TraceClock::now();
  trace.span("backward", TraceLane::Compute, t, t + std::chrono::milliseconds(2), R"({"step":4})");
  const auto events = nlohmann::json::parse(trace.events_json());
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["ph"], "X");
  EXPECT_EQ(events[0]["pid"], 3);
  EXPECT_EQ(events[0]["tid"], int(TraceLane::Compute));
  EXPECT_EQ(events[0]["dur"], 2000);
  EXPECT_EQ(events[0]["args"]["step"], 4);
}

TEST(Trace, AFullRecorderCountsWhatItDropsAndSaysSo) {
  TraceRecorder trace(0, 2);
  const auto t = TraceClock::now();
  for (int i = 0; i < 5; ++i) trace.span("f", TraceLane::Compute, t, t);
  EXPECT_EQ(trace.size(), 2);
  EXPECT_EQ(trace.dropped(), 3);
  EXPECT_NE(trace.events_json().find("3 events dropped"), std::string::npos);
}

TEST(Trace, MergeNamesEveryRankAndKeepsTheirEvents) {
  TraceRecorder a(0), b(1);
  const auto t = TraceClock::now();
  a.span("forward", TraceLane::Compute, t, t);
  b.span("allreduce", TraceLane::Communication, t, t);
  const auto merged = nlohmann::json::parse(merge_traces({a.events_json(), b.events_json()}));
  int names = 0, spans = 0;
  for (const auto& e : merged["traceEvents"]) {
    if (e["ph"] == "M" && e["name"] == "process_name") ++names;
    if (e["ph"] == "X") ++spans;
  }
  EXPECT_EQ(names, 2);
  EXPECT_EQ(spans, 2);
  EXPECT_THROW(merge_traces({"{not json"}), Error);
}

}  // namespace
}  // namespace cohort
