// Failures: a dead worker stops the job, a silent worker times out by name, the
// launcher restarts, forwards signals, and never leaves a process behind.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <filesystem>

#include "dist/launch_harness.h"

extern char** environ;

using namespace cohort::test;

TEST(LaunchFailure, KilledWorkerStopsTheOthersAndIsNamed) {
  const std::string marker = unique_marker();
  // `timeout 30`: the surviving ranks must be gone within 30 s.
  auto run = run_shell(launch_command(3, "die " + marker), 30);
  EXPECT_NE(run.exit_code, 0) << run.output;
  EXPECT_NE(run.exit_code, 124) << "the launcher hung:\n" << run.output;
  EXPECT_NE(run.output.find("cohort launch: rank 1 (pid"), std::string::npos) << run.output;
  EXPECT_NE(run.output.find("was killed by signal 9 (SIGKILL)"), std::string::npos) << run.output;
  EXPECT_NE(run.output.find("    about to die"), std::string::npos)
      << "the report should carry the tail of rank 1's output:\n"
      << run.output;
  EXPECT_TRUE(wait_for_processes(
      marker, [](int n) { return n == 0; }, std::chrono::seconds(5)))
      << count_processes_with(marker) << " worker processes left behind";
}

// Rank 1 of `worker_args` ("hang ...") never reaches its allreduce.
void expect_silent_rank_named(const std::string& worker_args) {
  auto run = run_shell(launch_command(2, worker_args), 90);
  EXPECT_NE(run.exit_code, 0) << run.output;
  EXPECT_NE(run.output.find("[rank 0] TimeoutError: allreduce #2 on group 'hang'"),
            std::string::npos)
      << run.output;
  EXPECT_NE(run.output.find("timed out after 3000 ms"), std::string::npos) << run.output;
  EXPECT_NE(run.output.find("ranks that did not answer: global rank 1"), std::string::npos)
      << run.output;
  EXPECT_NE(run.output.find("cohort launch: rank 0 (pid"), std::string::npos) << run.output;
}

TEST(LaunchFailure, SilentRankTimesOutNamingCollectiveGroupAndRank) {
  expect_silent_rank_named("hang");
}

// The worker polls for 10 minutes, longer than run_shell's 90 s: only polling
// that stops at the group's 3 s timeout gets the message out in time.
TEST(LaunchFailure, PollingWaitKeepsTheGroupTimeout) { expect_silent_rank_named("hang poll"); }

TEST(LaunchFailure, RestartsTheGroupAfterAFailure) {
  auto flag = std::filesystem::temp_directory_path() / (unique_marker() + ".flag");
  auto run = run_shell(launch_command(2, "fail_once " + flag.string(), "--max-restarts 1"));
  std::filesystem::remove(flag);
  EXPECT_EQ(run.exit_code, 0) << run.output;
  EXPECT_NE(run.output.find("rank 0 (pid"), std::string::npos) << run.output;
  EXPECT_NE(run.output.find("exited with status 5"), std::string::npos) << run.output;
  EXPECT_NE(run.output.find("restarting all 2 workers (restart 1 of 1)"), std::string::npos)
      << run.output;
  EXPECT_NE(run.output.find("[rank 1] OK fail_once"), std::string::npos) << run.output;
}

TEST(LaunchFailure, WithoutRestartsTheFailureIsFinal) {
  auto flag = std::filesystem::temp_directory_path() / (unique_marker() + ".flag");
  auto run = run_shell(launch_command(2, "fail_once " + flag.string()));
  std::filesystem::remove(flag);
  EXPECT_EQ(run.exit_code, 5) << run.output;
  EXPECT_EQ(run.output.find("restarting"), std::string::npos) << run.output;
}

namespace {

// Starts `cohort launch --nproc 2 -- worker sleep MARKER` in the background.
pid_t start_sleeping_launch(const std::string& marker) {
  std::vector<std::string> args = {COHORT_BIN, "launch", "--nproc",          "2",     "--grace",
                                   "1",        "--",     COHORT_TEST_WORKER, "sleep", marker};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  pid_t pid = -1;
  posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  return pid;
}

int wait_bounded(pid_t pid, std::chrono::seconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  int status = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    if (waitpid(pid, &status, WNOHANG) == pid) return status;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  kill(pid, SIGKILL);
  waitpid(pid, &status, 0);
  return -1;
}

}  // namespace

TEST(LaunchFailure, KilledLauncherLeavesNoOrphans) {
  const std::string marker = unique_marker();
  pid_t launcher = start_sleeping_launch(marker);
  ASSERT_GT(launcher, 0);
  // The launcher's own command line holds the marker too: 1 launcher + 2 workers.
  ASSERT_TRUE(wait_for_processes(marker, [](int n) { return n == 3; }))
      << "workers did not start: " << count_processes_with(marker);
  kill(launcher, SIGKILL);
  waitpid(launcher, nullptr, 0);
  EXPECT_TRUE(wait_for_processes(
      marker, [](int n) { return n == 0; }, std::chrono::seconds(10)))
      << count_processes_with(marker) << " orphaned workers";
}

TEST(LaunchFailure, SigintIsForwardedAndEverythingExits) {
  const std::string marker = unique_marker();
  pid_t launcher = start_sleeping_launch(marker);
  ASSERT_GT(launcher, 0);
  ASSERT_TRUE(wait_for_processes(marker, [](int n) { return n == 3; }));
  kill(launcher, SIGINT);
  int status = wait_bounded(launcher, std::chrono::seconds(20));
  ASSERT_NE(status, -1) << "the launcher did not exit after SIGINT";
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 128 + SIGINT);
  EXPECT_TRUE(wait_for_processes(
      marker, [](int n) { return n == 0; }, std::chrono::seconds(5)));
}
