// Running `cohort launch` from tests: bounded by `timeout`, output captured, and
// a way to find processes left behind (by a marker in their command line).
#pragma once

#include <dirent.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <random>
#include <string>
#include <thread>

#include "test_paths.h"

namespace cohort::test {

struct Run {
  int exit_code = -1;
  std::string output;
};

// `timeout` kills a hung launch so the suite cannot hang; 124 then means "hung".
inline Run run_shell(const std::string& command, int limit_s = 120) {
  const std::string full =
      "timeout -k 5 " + std::to_string(limit_s) + " " + command + " 2>&1";
  Run run;
  FILE* pipe = popen(full.c_str(), "r");
  if (!pipe) return run;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) run.output.append(buffer, n);
  int status = pclose(pipe);
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return run;
}

inline std::string launch_command(int nproc, const std::string& worker_args,
                                  const std::string& launch_args = "") {
  return std::string(COHORT_BIN) + " launch --nproc " + std::to_string(nproc) + " " +
         launch_args + " -- " + COHORT_TEST_WORKER + " " + worker_args;
}

inline std::string unique_marker() {
  std::random_device rd;
  return "cohort-test-" + std::to_string(getpid()) + "-" + std::to_string(rd());
}

// Processes whose command line contains `marker` (the test process excluded).
inline int count_processes_with(const std::string& marker) {
  int count = 0;
  DIR* proc = opendir("/proc");
  if (!proc) return -1;
  while (dirent* entry = readdir(proc)) {
    const std::string pid = entry->d_name;
    if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
    if (std::stoi(pid) == getpid()) continue;
    std::ifstream file("/proc/" + pid + "/cmdline", std::ios::binary);
    std::string cmdline((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
    // Zombies have an empty cmdline and are gone once reaped: not leftovers.
    if (cmdline.find(marker) != std::string::npos) ++count;
  }
  closedir(proc);
  return count;
}

// Waits up to `limit` for the count of marked processes to satisfy `done`.
template <typename Pred>
inline bool wait_for_processes(const std::string& marker, Pred done,
                               std::chrono::seconds limit = std::chrono::seconds(20)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done(count_processes_with(marker))) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return done(count_processes_with(marker));
}

}  // namespace cohort::test
