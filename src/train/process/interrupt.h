// SIGINT and SIGTERM during training: the handler only records the signal; the
// training loop notices it between steps, writes a final checkpoint and stops
// with Interrupted (exit status 128 + the signal, as the shell reports a process
// the signal killed).
#pragma once

namespace cohort {

class InterruptWatch {
 public:
  // Installs the handlers when `enabled` (train.checkpoint_on_interrupt); the
  // previous ones come back on destruction.
  explicit InterruptWatch(bool enabled);
  ~InterruptWatch();
  InterruptWatch(const InterruptWatch&) = delete;
  InterruptWatch& operator=(const InterruptWatch&) = delete;

  // The signal received so far, or 0.
  int signal() const;

 private:
  bool enabled_;
};

}  // namespace cohort
