// The processes of one launch attempt: fork/exec with the rendezvous variables,
// each worker in its own process group and killed by the kernel if the launcher
// dies; their output forwarded line by line with a "[rank N] " prefix.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <deque>
#include <string>
#include <vector>

#include "cohort/launch.h"

namespace cohort {

struct WorkerProcess {
  int rank = 0;
  pid_t pid = -1;
  int out_fd = -1;  // worker stdout, forwarded to ours
  int err_fd = -1;  // worker stderr, forwarded to ours
  std::string out_partial, err_partial;
  std::deque<std::string> tail;  // last lines of both streams, for failure reports
  bool running = false;
  int status = 0;  // waitpid status once exited
};

class WorkerGroup {
 public:
  static constexpr size_t kTailLines = 10;

  WorkerGroup(const LaunchOptions& options, int port);
  ~WorkerGroup();  // kills what is still running: nothing outlives the group
  WorkerGroup(const WorkerGroup&) = delete;
  WorkerGroup& operator=(const WorkerGroup&) = delete;

  // Forwards output for up to `timeout`; also wakes when `wake_fd` is readable.
  void pump(std::chrono::milliseconds timeout, int wake_fd = -1);
  // Workers that exited since the last call (reaped, no zombies left).
  std::vector<WorkerProcess*> reap();
  bool all_exited() const;
  int running_count() const;
  void signal_all(int sig);
  // SIGTERM, up to `grace` to exit, then SIGKILL; returns when all are reaped.
  void terminate(std::chrono::milliseconds grace);
  // Reads what the pipes still hold (bounded wait: grandchildren may keep them open).
  void drain(std::chrono::milliseconds limit);

 private:
  void spawn(const LaunchOptions& options, int local_rank, int port);
  void forward(WorkerProcess& w, int& fd, std::string& partial, int to_fd);
  void emit(WorkerProcess& w, const std::string& line, int to_fd);

  std::vector<WorkerProcess> workers_;
};

}  // namespace cohort
