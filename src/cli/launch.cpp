// `cohort launch`: start the workers of this node under torchrun's variables.
#include "cli/commands.h"
#include "cohort/launch.h"

namespace cohort::cli {

Runner add_launch_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "launch",
      "Start N local worker processes with RANK/WORLD_SIZE/MASTER_ADDR/... set; stop all of "
      "them when one fails");
  auto options = std::make_shared<LaunchOptions>();
  auto interval_ms = std::make_shared<int>(100);
  auto grace_s = std::make_shared<double>(3.0);
  cmd->add_option("--nproc", options->nproc, "Workers on this node")->required();
  cmd->add_option("--nnodes", options->nnodes, "Nodes in the job")->capture_default_str();
  cmd->add_option("--node-rank", options->node_rank, "This node's index (0..nnodes-1)")
      ->capture_default_str();
  cmd->add_option("--master-addr", options->master_addr,
                  "Address of node 0, where rank 0 serves the rendezvous store")
      ->capture_default_str();
  cmd->add_option("--master-port", options->master_port,
                  "Rendezvous port (default: a free port; required with --nnodes > 1)");
  cmd->add_option("--job-id", options->job_id,
                  "Prefix of every rendezvous key (default: derived from the port)");
  cmd->add_option("--max-restarts", options->max_restarts,
                  "Restart the whole group this many times after a failure")
      ->capture_default_str();
  cmd->add_option("--monitor-interval", *interval_ms,
                  "Milliseconds between checks of the workers")
      ->capture_default_str();
  cmd->add_option("--grace", *grace_s,
                  "Seconds workers get after SIGTERM before SIGKILL when the group is stopped")
      ->capture_default_str();
  cmd->add_option("command", options->command, "The worker command (after --)")->required();
  cmd->positionals_at_end();
  return [options, interval_ms, grace_s]() -> int {
    options->monitor_interval = std::chrono::milliseconds(*interval_ms);
    options->grace = std::chrono::milliseconds(static_cast<int64_t>(*grace_s * 1000));
    return launch_local(*options);
  };
}

}  // namespace cohort::cli
