#include <unistd.h>

#include <cstdio>

#include <fmt/format.h>

#include "cohort/progress.h"

namespace cohort {
namespace {

std::string clock_text(double seconds) {
  const auto s = static_cast<int64_t>(seconds + 0.5);
  return s >= 3600 ? fmt::format("{}:{:02d}:{:02d}", s / 3600, s / 60 % 60, s % 60)
                   : fmt::format("{}:{:02d}", s / 60, s % 60);
}

}  // namespace

Progress::Progress(int64_t total_steps, int64_t epochs, bool enabled)
    : total_(std::max<int64_t>(1, total_steps)), epochs_(epochs), enabled_(enabled),
      tty_(::isatty(STDERR_FILENO) == 1), start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

void Progress::update(int64_t step, int64_t epoch, double loss, double samples_per_sec,
                      int64_t line_every) {
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const double fraction = double(step) / double(total_);
  const double eta = step > 0 ? elapsed * (1.0 - fraction) / fraction : 0.0;
  if (tty_) {
    if (now - last_draw_ < std::chrono::milliseconds(100) && step < total_) return;
    last_draw_ = now;
    constexpr int kWidth = 24;
    const int filled = static_cast<int>(fraction * kWidth);
    std::fprintf(stderr, "\r\033[2Kepoch %lld/%lld [%s%s] %3.0f%% step %lld/%lld loss %.4f "
                 "%.0f samples/s ETA %s", (long long)epoch + 1, (long long)epochs_,
                 std::string(filled, '#').c_str(), std::string(kWidth - filled, '.').c_str(),
                 100 * fraction, (long long)step, (long long)total_, loss, samples_per_sec,
                 clock_text(eta).c_str());
    std::fflush(stderr);
    bar_shown_ = true;
  } else if (step % line_every == 0 || step == total_) {
    std::fprintf(stderr, "epoch %lld/%lld step %lld/%lld loss %.4f %.0f samples/s ETA %s\n",
                 (long long)epoch + 1, (long long)epochs_, (long long)step, (long long)total_,
                 loss, samples_per_sec, clock_text(eta).c_str());
  }
}

void Progress::message(const std::string& line) {
  if (!enabled_) return;
  if (bar_shown_) std::fputs("\r\033[2K", stderr);
  bar_shown_ = false;
  std::fprintf(stderr, "%s\n", line.c_str());
}

void Progress::finish() {
  if (enabled_ && bar_shown_) std::fputs("\n", stderr);
  bar_shown_ = false;
}

}  // namespace cohort
