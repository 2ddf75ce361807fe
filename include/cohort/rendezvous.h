// Rendezvous: who am I, how many are we, where do we meet. WorldInfo is read
// from the variables that launchers set (torchrun / `cohort launch`, Open MPI,
// MPICH, Slurm); init_world meets the other ranks and returns the world group.
#pragma once

#include <chrono>
#include <map>
#include <string>

#include "cohort/comm.h"

namespace cohort {

struct WorldInfo {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  int local_world_size = 1;
  std::string master_addr = "127.0.0.1";  // loopback unless told otherwise
  int master_port = 29500;
  // Prefixes every store key, so two jobs sharing a host (or a store) never mix.
  std::string job_id;
  // Which launcher's variables were used: torchrun | openmpi | mpich | slurm | none.
  std::string source = "none";
  // torchrun's agent already serves the store at master_addr:master_port
  // (TORCHELASTIC_USE_AGENT_STORE=True): rank 0 is a client like the others.
  bool agent_store = false;
  // COHORT_RENDEZVOUS_FILE: meet through this file on a shared file system
  // instead of a TCP store (for launchers that export no MASTER_ADDR).
  std::string rendezvous_file;
};

using Environment = std::map<std::string, std::string>;

// Pure: reads the first launcher whose rank variable is present, in the order
// torchrun, Open MPI, MPICH/PMI, Slurm; none of them means a single process.
// MASTER_ADDR/MASTER_PORT apply to every source; `config_master_addr` is used
// when MASTER_ADDR is absent. Slurm's local size comes from
// SLURM_NTASKS_PER_NODE or, as srun sets it, SLURM_STEP_TASKS_PER_NODE and
// SLURM_NODEID. Under torchrun the job id gains "/attempt<TORCHELASTIC_RESTART_COUNT>".
// Non-numeric or inconsistent values raise InputError naming the variable.
WorldInfo parse_world_info(const Environment& env, const std::string& config_master_addr = "");

// The current process environment as an Environment.
Environment process_environment();

// parse_world_info(process_environment(), config_master_addr).
WorldInfo world_info_from_environment(const std::string& config_master_addr = "");

constexpr std::chrono::milliseconds kDefaultCommTimeout{std::chrono::minutes(5)};

// Gloo moves CPU tensors; NCCL moves CUDA tensors and exists only in builds
// against a CUDA libtorch (COHORT_WITH_CUDA); elsewhere asking for it is an
// InputError.
enum class Backend { Gloo, Nccl };

// The NCCL version libtorch links ("2.30.7"); empty in CPU-only builds.
std::string nccl_version();

// Meets the other ranks through a TCP store at master_addr:master_port (rank 0
// serves it) and creates the world group named "world". Every collective on it
// and on its sub-groups waits at most `timeout`. The Gloo transport binds to
// loopback when the master is on loopback, otherwise to the address that routes
// to the master (COHORT_BIND_ADDR overrides).
CommunicatorPtr init_world(const WorldInfo& world,
                           std::chrono::milliseconds timeout = kDefaultCommTimeout,
                           Backend backend = Backend::Gloo);

// Same, meeting through a file on a shared file system instead of TCP (every
// rank passes the same path; the file should not exist before the job starts).
CommunicatorPtr init_world_file(const std::string& path, const WorldInfo& world,
                                std::chrono::milliseconds timeout = kDefaultCommTimeout,
                                Backend backend = Backend::Gloo);

// init_world_file when world.rendezvous_file is set, else init_world.
CommunicatorPtr meet_world(const WorldInfo& world, std::chrono::milliseconds timeout,
                           Backend backend);

}  // namespace cohort
