// The local launcher behind `cohort launch` (and `cohort train --nproc`): starts
// the workers of one node with torchrun's variables, prefixes their output with
// their rank, and stops the whole group when one of them fails (unless the
// job declared that rank expendable).
#pragma once

#include <chrono>
#include <string>
#include <utility>
#include <vector>

namespace cohort {

struct LaunchOptions {
  int nproc = 1;      // workers on this node
  int nnodes = 1;     // nodes in the job
  int node_rank = 0;  // this node's index, 0..nnodes-1
  std::string master_addr = "127.0.0.1";
  int master_port = 0;   // 0: pick a free port (single node only)
  std::string job_id;    // "" : derived from the port
  int max_restarts = 0;  // restarts of the whole group after a failure
  std::chrono::milliseconds monitor_interval{100};
  // How long workers get to exit after SIGTERM before SIGKILL.
  std::chrono::milliseconds grace{std::chrono::seconds(3)};
  std::vector<std::string> command;  // program and arguments
  // Global ranks the job can lose: their failure is reported and the others
  // go on (asynchronous workers). Any other rank's failure stops the group.
  std::vector<int> expendable;
  // A worker exit status that means "stopped at a checkpoint so that the job
  // can be re-formed" (elastic jobs): neither success nor failure; 0 = none.
  int reform_exit_code = 0;
};

// InputError for impossible options (no command, node rank outside the job,
// several nodes without a master port).
void check_launch_options(const LaunchOptions& options);

// Pure: the variables worker `local_rank` gets on top of the launcher's own
// environment (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR,
// MASTER_PORT, COHORT_JOB_ID).
std::vector<std::pair<std::string, std::string>> worker_environment(const LaunchOptions& options,
                                                                    int local_rank, int port);

// Pure: "exited with status 3" / "was killed by signal 9 (SIGKILL)" for a
// waitpid status.
std::string describe_exit(int wait_status);

// Runs the group until every worker has exited; restarts it up to max_restarts
// times after a failure. Returns 0 when all workers succeeded, otherwise the
// failed worker's exit status (128 + signal for a signal), or 128 + the signal
// the launcher itself received.
int launch_local(const LaunchOptions& options);

// launch_local for an elastic job (`cohort train --nproc MIN:MAX`,
// launch/elastic_plan.h): it starts options.nproc (MAX) ranks; after a
// failure, up to max_restarts times, it re-forms the group on the survivors (no
// fewer than `min_nproc`) from the newest checkpoint, each rank playing several
// data-parallel replicas, or the members placed again over the ranks left; a
// group smaller than MAX is asked to stop at its next checkpoint, and then
// starts again at MAX.
struct ElasticShape;  // launch/elastic_plan.h
int launch_elastic(LaunchOptions options, int min_nproc, const ElasticShape& shape);

// A TCP port that was free on 127.0.0.1 a moment ago, chosen outside the
// kernel's ephemeral range so that no connection or port-0 listener takes it
// before rank 0 listens on it.
int pick_free_port();

// Where pick_free_port draws from, given the text of
// /proc/sys/net/ipv4/ip_local_port_range ("32768\t60999"): ports below that
// range from 10000, or above it, whichever has room; {0, 0} (the kernel's
// choice) when neither has or the text does not parse.
struct PortRange {
  int first = 0;
  int last = 0;
};
PortRange quiet_port_range(const std::string& ip_local_port_range);

}  // namespace cohort
