// Runs this test binary again as N ranks on loopback: each child gets RANK,
// WORLD_SIZE, MASTER_ADDR=127.0.0.1 and a free MASTER_PORT, runs only the
// worker test (DdpWorker.Run by default, or ZeroWorker.Run; each picks its
// scenario from COHORT_DDP_SCENARIO),
// and is killed if the group outlives the deadline, so a hang fails the test
// instead of stalling the suite.
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "cohort/launch.h"

namespace cohort::test {

struct RankResult {
  int exit_code = -1;  // 128 + signal when killed
  std::string output;
};

inline std::vector<RankResult> run_ranks(int world_size, const std::string& scenario,
                                         std::chrono::seconds deadline = std::chrono::seconds(180),
                                         const std::string& worker_test = "DdpWorker.Run") {
  const int port = pick_free_port();
  const auto dir = std::filesystem::temp_directory_path() /
                   ("cohort-ddp-" + std::to_string(getpid()) + "-" + std::to_string(port));
  std::filesystem::create_directories(dir);
  const std::string filter = "--gtest_filter=" + worker_test;  // built before fork
  std::vector<pid_t> pids;
  for (int rank = 0; rank < world_size; ++rank) {
    const std::string log = (dir / ("rank" + std::to_string(rank) + ".log")).string();
    pid_t pid = fork();
    if (pid == 0) {
      setenv("RANK", std::to_string(rank).c_str(), 1);
      setenv("WORLD_SIZE", std::to_string(world_size).c_str(), 1);
      setenv("LOCAL_RANK", std::to_string(rank).c_str(), 1);
      setenv("LOCAL_WORLD_SIZE", std::to_string(world_size).c_str(), 1);
      setenv("MASTER_ADDR", "127.0.0.1", 1);
      setenv("MASTER_PORT", std::to_string(port).c_str(), 1);
      setenv("COHORT_DDP_SCENARIO", scenario.c_str(), 1);
      if (!freopen(log.c_str(), "w", stdout) || !freopen(log.c_str(), "a", stderr)) _exit(126);
      execl("/proc/self/exe", "cohort_dist_tests", filter.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    pids.push_back(pid);
  }
  std::vector<RankResult> results(world_size);
  std::vector<bool> running(world_size, true);
  const auto end = std::chrono::steady_clock::now() + deadline;
  for (int left = world_size; left > 0;) {
    for (int r = 0; r < world_size; ++r) {
      int status = 0;
      if (!running[r] || waitpid(pids[r], &status, WNOHANG) != pids[r]) continue;
      running[r] = false;
      --left;
      results[r].exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    if (left > 0 && std::chrono::steady_clock::now() > end) {
      for (int r = 0; r < world_size; ++r) {
        if (running[r]) kill(pids[r], SIGKILL);
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  for (int r = 0; r < world_size; ++r) {
    std::ifstream in(dir / ("rank" + std::to_string(r) + ".log"));
    std::stringstream text;
    text << in.rdbuf();
    results[r].output = text.str();
  }
  std::filesystem::remove_all(dir);
  return results;
}

// Rank 0's measured differences (its lines holding "max |") into this test's
// output, and every rank must have passed its own checks.
inline void expect_every_rank_passed(const std::vector<RankResult>& results) {
  std::istringstream lines(results[0].output);
  for (std::string line; std::getline(lines, line);)
    if (line.find("max |") != std::string::npos) std::printf("rank 0: %s\n", line.c_str());
  for (size_t r = 0; r < results.size(); ++r)
    EXPECT_EQ(results[r].exit_code, 0) << "rank " << r << ":\n" << results[r].output;
}

}  // namespace cohort::test
