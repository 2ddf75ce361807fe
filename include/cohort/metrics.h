// metrics.jsonl: one JSON object per line, appended and flushed as the run goes,
// so a crashed run keeps every record written before the crash. Schema: docs/metrics.md.
#pragma once

#include <cstdio>
#include <memory>
#include <string>

#include "cohort/tensorboard.h"

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

  // Also writes every numeric field of every record to TensorBoard event files
  // in `dir`, tagged "<kind>/<field>[/<network>]" at the record's step.
  void also_to_tensorboard(const std::string& dir);

 private:
  std::FILE* file_ = nullptr;
  std::unique_ptr<TensorBoardWriter> tensorboard_;
};

}  // namespace cohort
