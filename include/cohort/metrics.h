// metrics.jsonl: one JSON object per line, appended and flushed as the run goes,
// so a crashed run keeps every record written before the crash. Schema: docs/metrics.md.
#pragma once

#include <cstdio>
#include <string>

namespace cohort {

class MetricsLog {
 public:
  MetricsLog() = default;
  explicit MetricsLog(const std::string& path);  // appends; creates if missing
  ~MetricsLog();
  MetricsLog(const MetricsLog&) = delete;
  MetricsLog& operator=(const MetricsLog&) = delete;

  // `json_object` is one serialised JSON object, without a newline.
  void write(const std::string& json_object);

 private:
  std::FILE* file_ = nullptr;
};

}  // namespace cohort
