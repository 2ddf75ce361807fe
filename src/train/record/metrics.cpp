#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "cohort/error.h"
#include "cohort/metrics.h"

#include <nlohmann/json.hpp>

#include "cohort/tensorboard.h"

namespace cohort {

MetricsLog::MetricsLog(const std::string& path) : file_(std::fopen(path.c_str(), "a")) {
  if (!file_) {
    throw InputError(fmt::format("cannot write metrics to {}: {}", path, std::strerror(errno)));
  }
}

void MetricsLog::also_to_tensorboard(const std::string& dir) {
  tensorboard_ = std::make_unique<TensorBoardWriter>(dir);
}

MetricsLog::~MetricsLog() {
  if (file_) std::fclose(file_);
}

void MetricsLog::write(const std::string& json_object) {
  if (!file_) return;
  std::fputs(json_object.c_str(), file_);
  std::fputc('\n', file_);
  std::fflush(file_);
  if (!tensorboard_) return;
  const auto record = nlohmann::json::parse(json_object, nullptr, false);
  if (!record.is_object()) return;
  const std::string kind = record.value("kind", "metrics");
  // fmt rather than "/" + std::string: see render_timeline (GCC bug 105329).
  const std::string network =
      record.contains("network") ? fmt::format("/{}", record.value("network", "")) : "";
  const int64_t step = record.value("step", int64_t(0));
  for (const auto& [key, value] : record.items()) {
    if (!value.is_number() || key == "step" || key == "epoch" || key == "wall_seconds") continue;
    tensorboard_->scalar(kind + "/" + key + network, value.get<double>(), step);
  }
  tensorboard_->flush();
}

}  // namespace cohort
