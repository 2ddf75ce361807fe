#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "cohort/error.h"
#include "cohort/metrics.h"

namespace cohort {

MetricsLog::MetricsLog(const std::string& path) : file_(std::fopen(path.c_str(), "a")) {
  if (!file_) {
    throw InputError(fmt::format("cannot write metrics to {}: {}", path, std::strerror(errno)));
  }
}

MetricsLog::~MetricsLog() {
  if (file_) std::fclose(file_);
}

void MetricsLog::write(const std::string& json_object) {
  if (!file_) return;
  std::fputs(json_object.c_str(), file_);
  std::fputc('\n', file_);
  std::fflush(file_);
}

}  // namespace cohort
