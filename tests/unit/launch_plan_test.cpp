// The launcher's pure decisions: worker variables, option checks, exit wording.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <fstream>
#include <map>

#include "cohort/error.h"
#include "cohort/launch.h"
#include "cohort/rendezvous.h"

using namespace cohort;

TEST(LaunchPlan, WorkerVariablesAreWhatParseWorldInfoReads) {
  LaunchOptions o;
  o.nproc = 3;
  o.nnodes = 2;
  o.node_rank = 1;
  o.master_addr = "10.1.0.1";
  o.master_port = 5000;
  o.command = {"worker"};
  auto vars = worker_environment(o, 2, 5000);
  Environment env(vars.begin(), vars.end());
  EXPECT_EQ(env.at("RANK"), "5");
  EXPECT_EQ(env.at("WORLD_SIZE"), "6");
  EXPECT_EQ(env.at("LOCAL_RANK"), "2");
  EXPECT_EQ(env.at("LOCAL_WORLD_SIZE"), "3");
  auto w = parse_world_info(env);
  EXPECT_EQ(w.rank, 5);
  EXPECT_EQ(w.world_size, 6);
  EXPECT_EQ(w.master_addr, "10.1.0.1");
  EXPECT_EQ(w.master_port, 5000);
  EXPECT_EQ(w.job_id, "port5000");
  o.job_id = "mine";
  auto named = worker_environment(o, 0, 5000);
  EXPECT_EQ(Environment(named.begin(), named.end()).at("COHORT_JOB_ID"), "mine");
}

TEST(LaunchPlan, ImpossibleOptionsAreInputErrors) {
  LaunchOptions o;
  EXPECT_THROW(check_launch_options(o), InputError);  // no command
  o.command = {"true"};
  EXPECT_NO_THROW(check_launch_options(o));
  o.nproc = 0;
  EXPECT_THROW(check_launch_options(o), InputError);
  o.nproc = 2;
  o.nnodes = 2;
  EXPECT_THROW(check_launch_options(o), InputError);  // nodes must agree on a port
  o.master_port = 6000;
  EXPECT_NO_THROW(check_launch_options(o));
  o.node_rank = 2;
  EXPECT_THROW(check_launch_options(o), InputError);
}

TEST(LaunchPlan, DescribesExitsAndSignals) {
  EXPECT_EQ(describe_exit(3 << 8), "exited with status 3");
  EXPECT_EQ(describe_exit(SIGKILL), "was killed by signal 9 (SIGKILL)");
}

TEST(LaunchPlan, PortsComeFromOutsideTheEphemeralRange) {
  auto range = [](const std::string& text) {
    const PortRange r = quiet_port_range(text);
    return std::pair{r.first, r.last};
  };
  EXPECT_EQ(range("32768\t60999\n"), std::pair(10000, 32767));  // Linux's default
  EXPECT_EQ(range("1024 60999"), std::pair(61000, 65535));      // no room below
  EXPECT_EQ(range("1024 65000"), std::pair(0, 0));              // no room at all
  EXPECT_EQ(range("10500 60999"), std::pair(61000, 65535));
  EXPECT_EQ(range(""), std::pair(0, 0));
  EXPECT_EQ(range("32768"), std::pair(0, 0));
  EXPECT_EQ(range("60999 32768"), std::pair(0, 0));
}

TEST(LaunchPlan, APickedPortIsOutsideThisMachinesEphemeralRange) {
  std::ifstream file("/proc/sys/net/ipv4/ip_local_port_range");
  int low = 0, high = 0;
  if (!(file >> low >> high)) GTEST_SKIP() << "no /proc/sys/net/ipv4/ip_local_port_range here";
  const int port = pick_free_port();
  if (quiet_port_range(std::to_string(low) + " " + std::to_string(high)).first != 0)
    EXPECT_TRUE(port < low || port > high) << port << " is in " << low << ".." << high;
  EXPECT_GT(port, 0);
}
