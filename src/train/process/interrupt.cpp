#include "train/process/interrupt.h"

#include <signal.h>

#include <atomic>

namespace cohort {
namespace {

std::atomic<int> g_received{0};
struct sigaction g_old_int {}, g_old_term{};

// A second signal is the user insisting: die at once, as without the handler.
void on_signal(int sig) {
  if (g_received.exchange(sig) != 0) {
    ::signal(sig, SIG_DFL);
    ::raise(sig);
  }
}

}  // namespace

InterruptWatch::InterruptWatch(bool enabled) : enabled_(enabled) {
  if (!enabled_) return;
  g_received.store(0);
  struct sigaction action {};
  action.sa_handler = on_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;  // blocking reads and collectives go on; the loop checks between steps
  sigaction(SIGINT, &action, &g_old_int);
  sigaction(SIGTERM, &action, &g_old_term);
}

InterruptWatch::~InterruptWatch() {
  if (!enabled_) return;
  sigaction(SIGINT, &g_old_int, nullptr);
  sigaction(SIGTERM, &g_old_term, nullptr);
}

int InterruptWatch::signal() const { return enabled_ ? g_received.load() : 0; }

}  // namespace cohort
