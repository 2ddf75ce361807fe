// The pure half of the launcher: option checks, worker variables, exit wording.
#include <fmt/format.h>
#include <sys/wait.h>

#include <cstring>  // sigabbrev_np

#include "cohort/error.h"
#include "cohort/launch.h"

namespace cohort {

void check_launch_options(const LaunchOptions& o) {
  if (o.command.empty())
    throw InputError(
        "cohort launch needs a command after '--', e.g. cohort launch --nproc 2 -- "
        "./my_worker");
  if (o.nproc < 1) throw InputError(fmt::format("--nproc {} must be at least 1", o.nproc));
  if (o.nnodes < 1) throw InputError(fmt::format("--nnodes {} must be at least 1", o.nnodes));
  if (o.node_rank < 0 || o.node_rank >= o.nnodes)
    throw InputError(fmt::format("--node-rank {} is outside 0..{} (--nnodes {})", o.node_rank,
                                 o.nnodes - 1, o.nnodes));
  if (o.nnodes > 1 && o.master_port == 0)
    throw InputError("with --nnodes > 1 every node must be given the same --master-port");
  if (o.master_port < 0 || o.master_port > 65535)
    throw InputError(fmt::format("--master-port {} is not a TCP port", o.master_port));
  if (o.max_restarts < 0) throw InputError("--max-restarts must be 0 or more");
  if (o.monitor_interval.count() <= 0) throw InputError("--monitor-interval must be positive");
}

std::vector<std::pair<std::string, std::string>> worker_environment(const LaunchOptions& o,
                                                                    int local_rank, int port) {
  const int rank = o.node_rank * o.nproc + local_rank;
  return {
      {"RANK", std::to_string(rank)},
      {"WORLD_SIZE", std::to_string(o.nnodes * o.nproc)},
      {"LOCAL_RANK", std::to_string(local_rank)},
      {"LOCAL_WORLD_SIZE", std::to_string(o.nproc)},
      {"MASTER_ADDR", o.master_addr},
      {"MASTER_PORT", std::to_string(port)},
      {"COHORT_JOB_ID", o.job_id.empty() ? fmt::format("port{}", port) : o.job_id},
  };
}

std::string describe_exit(int status) {
  if (WIFEXITED(status)) return fmt::format("exited with status {}", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    const char* name = sigabbrev_np(sig);
    return fmt::format("was killed by signal {} (SIG{})", sig, name ? name : "?");
  }
  return fmt::format("stopped (wait status {})", status);
}

}  // namespace cohort
