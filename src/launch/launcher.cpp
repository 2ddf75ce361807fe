// launch_local: supervise one group of workers, stop all of them when one fails,
// restart the group if allowed, and pass SIGINT/SIGTERM on to the workers.
#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "cohort/error.h"
#include "cohort/launch.h"
#include "launch/elastic_plan.h"
#include "launch/worker_group.h"

namespace cohort {
namespace {

// Self-pipe: the handler only writes the signal number; the supervision loop
// polls the read end next to the workers' output.
int g_signal_pipe[2] = {-1, -1};

void on_signal(int sig) {
  const int saved = errno;
  const unsigned char byte = static_cast<unsigned char>(sig);
  (void)!::write(g_signal_pipe[1], &byte, 1);
  errno = saved;
}

// Installs the handlers for the duration of a launch and restores the old ones.
class SignalForwarding {
 public:
  SignalForwarding() {
    if (pipe2(g_signal_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
      throw Error(fmt::format("pipe: {}", std::strerror(errno)));
    struct sigaction action {};
    action.sa_handler = on_signal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    sigaction(SIGINT, &action, &old_int_);
    sigaction(SIGTERM, &action, &old_term_);
    struct sigaction ignore {};
    ignore.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &ignore, &old_pipe_);
  }
  ~SignalForwarding() {
    sigaction(SIGINT, &old_int_, nullptr);
    sigaction(SIGTERM, &old_term_, nullptr);
    sigaction(SIGPIPE, &old_pipe_, nullptr);
    ::close(g_signal_pipe[0]);
    ::close(g_signal_pipe[1]);
    g_signal_pipe[0] = g_signal_pipe[1] = -1;
  }
  int fd() const { return g_signal_pipe[0]; }
  // The signal received since the last call, or 0.
  int received() const {
    unsigned char byte = 0;
    int sig = 0;
    while (::read(g_signal_pipe[0], &byte, 1) == 1) sig = byte;
    return sig;
  }

 private:
  struct sigaction old_int_ {
  }, old_term_{}, old_pipe_{};
};

int exit_code_of(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

bool succeeded(int status) { return WIFEXITED(status) && WEXITSTATUS(status) == 0; }

void report_failure(const WorkerProcess& w, int running_others) {
  std::string text =
      fmt::format("cohort launch: rank {} (pid {}) {}", w.rank, w.pid, describe_exit(w.status));
  if (running_others > 0)
    text += fmt::format("; stopping the other {} worker{}", running_others,
                        running_others > 1 ? "s" : "");
  text += fmt::format(". Last {} line{} of rank {}:\n", w.tail.size(),
                      w.tail.size() == 1 ? "" : "s", w.rank);
  if (w.tail.empty()) text += "    (no output)\n";
  for (const auto& line : w.tail) text += "    " + line + "\n";
  std::fputs(text.c_str(), stderr);
  std::fflush(stderr);
}

struct AttemptResult {
  int exit_code = 0;
  bool failed = false;
  int signal = 0;         // the launcher was told to stop
  bool reformed = false;  // the workers stopped at a checkpoint to be re-formed
};

AttemptResult run_attempt(const LaunchOptions& options, int port, const SignalForwarding& signals) {
  WorkerGroup group(options, port);
  AttemptResult result;
  for (;;) {
    group.pump(options.monitor_interval, signals.fd());
    if (int sig = signals.received()) {
      std::fprintf(stderr, "cohort launch: got signal %d (SIG%s); passing it to the workers\n", sig,
                   sigabbrev_np(sig));
      group.signal_all(sig);
      const auto deadline = std::chrono::steady_clock::now() + options.grace;
      while (!group.all_exited() && std::chrono::steady_clock::now() < deadline) {
        group.pump(std::chrono::milliseconds(50));
        group.reap();
      }
      group.terminate(std::chrono::milliseconds(0));
      group.drain(std::chrono::milliseconds(500));
      result.signal = sig;
      result.exit_code = 128 + sig;
      return result;
    }
    for (WorkerProcess* w : group.reap()) {
      if (succeeded(w->status)) continue;
      if (options.reform_exit_code != 0 && WIFEXITED(w->status) &&
          WEXITSTATUS(w->status) == options.reform_exit_code) {
        result.reformed = true;
        continue;
      }
      if (std::count(options.expendable.begin(), options.expendable.end(), w->rank)) {
        group.drain(std::chrono::milliseconds(300));
        std::fprintf(stderr, "cohort launch: rank %d (pid %d) %s; the job goes on without it\n",
                     w->rank, int(w->pid), describe_exit(w->status).c_str());
        continue;
      }
      // Read what the dead worker still had in its pipes: its last words are
      // usually the reason.
      group.drain(std::chrono::milliseconds(300));
      report_failure(*w, group.running_count());
      result.failed = true;
      result.exit_code = exit_code_of(w->status);
      group.terminate(options.grace);
      group.drain(std::chrono::milliseconds(500));
      return result;
    }
    if (group.all_exited()) {
      group.drain(std::chrono::milliseconds(500));
      return result;
    }
  }
}

// The worker command must exist and be executable before any worker starts: a
// missing one would otherwise show only as every rank's exit status 127.
void require_runnable(const std::string& command) {
  auto runnable = [](const std::string& path) {
    struct stat info {};
    return ::stat(path.c_str(), &info) == 0 && S_ISREG(info.st_mode) &&
           ::access(path.c_str(), X_OK) == 0;
  };
  if (command.find('/') != std::string::npos) {
    if (runnable(command)) return;
    const bool exists = ::access(command.c_str(), F_OK) == 0;
    throw InputError(fmt::format("cannot run '{}': {}", command,
                                 exists ? "it is not an executable file" : "no such file"));
  }
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/local/bin:/usr/bin:/bin";
  for (size_t start = 0; start <= dirs.size();) {
    const size_t end = std::min(dirs.find(':', start), dirs.size());
    const std::string dir = dirs.substr(start, end - start);
    if (runnable((dir.empty() ? "." : dir) + "/" + command)) return;
    start = end + 1;
  }
  throw InputError(fmt::format("cannot run '{}': no such command on PATH", command));
}

// Why an elastic job stops instead of re-forming: too few ranks left, or no
// count of them at or above MIN that shares the replicas evenly, or the
// re-forms allowed (--max-restarts) are used up.
void report_elastic_stop(int alive, int ranks, int min_nproc, int full, const ElasticShape& shape,
                         int max_restarts) {
  if (ranks == 0 && alive < min_nproc)
    std::fprintf(stderr,
                 "cohort launch: %d ranks left, fewer than the %d the job needs (--nproc "
                 "%d:%d); stopping: resume from the newest checkpoint when they are back\n",
                 alive, min_nproc, min_nproc, full);
  else if (ranks == 0)
    std::fprintf(stderr,
                 "cohort launch: the %d ranks left cannot share the job's %d replicas evenly, "
                 "and fewer than %d would be too few (--nproc %d:%d); stopping: resume from "
                 "the newest checkpoint when they are back\n",
                 alive, shape.replicas, min_nproc, min_nproc, full);
  else
    std::fprintf(stderr, "cohort launch: giving up after %d re-forms (--max-restarts)\n",
                 max_restarts);
}

}  // namespace

int launch_elastic(LaunchOptions options, int min_nproc, const ElasticShape& shape) {
  check_launch_options(options);
  require_runnable(options.command.at(0));
  const int full = options.nproc;
  options.reform_exit_code = kReformExitCode;
  SignalForwarding signals;
  for (int restarts = 0;;) {
    // The workers inherit the launcher's environment.
    ::setenv(kElasticRanksVariable, std::to_string(options.nproc).c_str(), 1);
    if (options.nproc < full)
      ::setenv(kReformAtCheckpointVariable, "1", 1);
    else
      ::unsetenv(kReformAtCheckpointVariable);
    if (const auto planned = shape.planned.find(options.nproc); planned != shape.planned.end())
      ::setenv(kMemberRanksVariable, planned->second.member_ranks.c_str(), 1);
    else
      ::unsetenv(kMemberRanksVariable);
    AttemptResult result = run_attempt(options, pick_free_port(), signals);
    if (result.signal) return result.exit_code;
    if (!result.failed && result.reformed) {
      std::fprintf(
          stderr, "cohort launch: the job stopped at its checkpoint; growing it back to %d ranks\n",
          full);
      options.nproc = full;
      continue;
    }
    if (!result.failed) return result.exit_code;
    const int alive = options.nproc - 1;
    const int ranks = reformed_ranks(shape, alive, min_nproc);
    if (restarts++ >= options.max_restarts || ranks == 0) {
      report_elastic_stop(alive, ranks, min_nproc, full, shape, options.max_restarts);
      return result.exit_code == 0 ? 1 : result.exit_code;
    }
    std::fprintf(stderr,
                 "cohort launch: re-forming the job on %d of %d ranks, %s, from the newest "
                 "checkpoint (re-form %d of %d)\n",
                 ranks, full, reformed_roles(shape, ranks).c_str(), restarts, options.max_restarts);
    options.nproc = ranks;
  }
}

int launch_local(const LaunchOptions& options) {
  check_launch_options(options);
  require_runnable(options.command.at(0));
  SignalForwarding signals;
  for (int attempt = 0;; ++attempt) {
    // A fresh port per attempt: the previous store's port may linger in TIME_WAIT.
    const int port = options.master_port != 0 ? options.master_port : pick_free_port();
    AttemptResult result = run_attempt(options, port, signals);
    if (!result.failed || result.signal) return result.exit_code;
    if (attempt >= options.max_restarts) {
      if (options.max_restarts > 0)
        std::fprintf(stderr, "cohort launch: giving up after %d restart%s\n", options.max_restarts,
                     options.max_restarts > 1 ? "s" : "");
      return result.exit_code == 0 ? 1 : result.exit_code;
    }
    std::fprintf(stderr, "cohort launch: restarting all %d workers (restart %d of %d)\n",
                 options.nproc, attempt + 1, options.max_restarts);
  }
}

}  // namespace cohort
