// Progress for a person: a redrawn bar on a terminal, plain periodic lines when
// the stream is a file or a pipe (logs stay readable). Writes to stderr so stdout
// carries only the run's JSON summary.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace cohort {

class Progress {
 public:
  Progress(int64_t total_steps, int64_t epochs, bool enabled = true);
  // Called every step; draws at most ~10 times a second on a terminal, and every
  // `line_every` steps otherwise.
  void update(int64_t step, int64_t epoch, double loss, double samples_per_sec,
              int64_t line_every);
  // A line that stays (evaluation results), clearing the bar first.
  void message(const std::string& line);
  void finish();

 private:
  int64_t total_;
  int64_t epochs_;
  bool enabled_;
  bool tty_;
  bool bar_shown_ = false;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace cohort
