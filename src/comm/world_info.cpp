// Launcher variables -> WorldInfo. Pure: no process is touched, so every launcher
// layout is unit tested with a map.
#include <fmt/format.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <sstream>

#include "cohort/error.h"
#include "cohort/rendezvous.h"

extern char** environ;

namespace cohort {
namespace {

// The variables each launcher sets, in the order they are tried. An empty name
// means the launcher does not set that value.
struct Source {
  const char* name;
  const char* rank;
  const char* size;
  const char* local_rank;
  const char* local_size;
};

constexpr Source kSources[] = {
    {"torchrun", "RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE"},
    {"openmpi", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK",
     "OMPI_COMM_WORLD_LOCAL_SIZE"},
    {"mpich", "PMI_RANK", "PMI_SIZE", "MPI_LOCALRANKID", "MPI_LOCALNRANKS"},
    {"slurm", "SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID", "SLURM_NTASKS_PER_NODE"},
};

std::optional<std::string> lookup(const Environment& env, const char* name) {
  if (name == nullptr || *name == '\0') return std::nullopt;
  auto it = env.find(name);
  if (it == env.end()) return std::nullopt;
  return it->second;
}

int parse_int(const std::string& value, const std::string& variable, const char* source) {
  errno = 0;
  char* end = nullptr;
  long parsed = std::strtol(value.c_str(), &end, 10);
  if (value.empty() || *end != '\0' || errno == ERANGE || parsed < INT32_MIN || parsed > INT32_MAX)
    throw InputError(
        fmt::format("{}='{}' is not a whole number (read as a {} variable); "
                    "fix the launcher's environment",
                    variable, value, source));
  return static_cast<int>(parsed);
}

// Slurm's tasks per node, "2(x3),1" (two tasks on each of three nodes, then one),
// as SLURM_STEP_TASKS_PER_NODE and SLURM_TASKS_PER_NODE write it; srun sets
// SLURM_NTASKS_PER_NODE only when asked for --ntasks-per-node.
std::optional<int> slurm_tasks_on_node(const std::string& spec, int node) {
  std::stringstream entries(spec);
  int first = 0;  // the first node the current entry describes
  for (std::string entry; std::getline(entries, entry, ',');) {
    int tasks = 0, repeat = 1, used = 0;
    if (std::sscanf(entry.c_str(), "%d%n", &tasks, &used) != 1) return std::nullopt;
    const std::string rest = entry.substr(size_t(used));
    int used_rest = 0;
    if (!rest.empty() && (std::sscanf(rest.c_str(), "(x%d)%n", &repeat, &used_rest) != 1 ||
                          size_t(used_rest) != rest.size()))
      return std::nullopt;
    if (tasks < 1 || repeat < 1) return std::nullopt;
    if (node < first + repeat) return tasks;
    first += repeat;
  }
  return std::nullopt;
}

int required(const Environment& env, const Source& source, const char* variable) {
  auto value = lookup(env, variable);
  if (!value)
    throw InputError(fmt::format("{} is set ({} launch) but {} is missing; set both or neither",
                                 source.rank, source.name, variable));
  return parse_int(*value, variable, source.name);
}

}  // namespace

WorldInfo parse_world_info(const Environment& env, const std::string& config_master_addr) {
  WorldInfo info;
  const Source* found = nullptr;
  for (const auto& source : kSources)
    if (lookup(env, source.rank)) {
      found = &source;
      break;
    }
  if (found != nullptr) {
    info.source = found->name;
    info.rank = parse_int(*lookup(env, found->rank), found->rank, found->name);
    info.world_size = required(env, *found, found->size);
    auto local_rank = lookup(env, found->local_rank);
    auto local_size = lookup(env, found->local_size);
    // Without local variables every rank is taken to be on its own host.
    info.local_rank = local_rank ? parse_int(*local_rank, found->local_rank, found->name) : 0;
    info.local_world_size = local_size ? parse_int(*local_size, found->local_size, found->name) : 1;
    if (!local_rank && local_size) info.local_rank = info.rank % info.local_world_size;
    if (info.source == "slurm" && !local_size) {
      for (const char* spec : {"SLURM_STEP_TASKS_PER_NODE", "SLURM_TASKS_PER_NODE"}) {
        auto value = lookup(env, spec);
        if (!value) continue;
        const int node =
            parse_int(lookup(env, "SLURM_NODEID").value_or("0"), "SLURM_NODEID", "slurm");
        auto tasks = slurm_tasks_on_node(*value, node);
        if (!tasks)
          throw InputError(
              fmt::format("{}='{}' does not list node {} (SLURM_NODEID) as N or "
                          "N(xM) entries; fix the job's environment",
                          spec, *value, node));
        info.local_world_size = *tasks;
        break;
      }
    }
  }
  if (info.world_size < 1)
    throw InputError(
        fmt::format("world size {} (from {}) must be at least 1", info.world_size, info.source));
  if (info.rank < 0 || info.rank >= info.world_size)
    throw InputError(
        fmt::format("rank {} is outside the world of {} ranks (from {}); ranks "
                    "run from 0 to world size - 1",
                    info.rank, info.world_size, info.source));
  if (info.local_world_size < 1 || info.local_world_size > info.world_size)
    throw InputError(fmt::format("local world size {} must be between 1 and the world size {}",
                                 info.local_world_size, info.world_size));
  if (info.local_rank < 0 || info.local_rank >= info.local_world_size)
    throw InputError(fmt::format("local rank {} is outside the {} ranks on this host",
                                 info.local_rank, info.local_world_size));

  if (auto addr = lookup(env, "MASTER_ADDR"); addr && !addr->empty())
    info.master_addr = *addr;
  else if (!config_master_addr.empty())
    info.master_addr = config_master_addr;
  if (auto port = lookup(env, "MASTER_PORT")) {
    info.master_port = parse_int(*port, "MASTER_PORT", "rendezvous");
    if (info.master_port < 1 || info.master_port > 65535)
      throw InputError(
          fmt::format("MASTER_PORT={} is not a TCP port (1..65535)", info.master_port));
  }
  // torchrun's agent serves the store itself at MASTER_ADDR:MASTER_PORT and keeps
  // it across --max-restarts, so every rank is its client, and each attempt gets
  // its own keys (what torch.distributed's env:// rendezvous did). Without the
  // agent's store, rank 0 serves a fresh one each round, and no attempt number
  // is added: after an elastic membership change the agents' restart counts
  // differ (a host that joins starts at 0).
  info.agent_store = info.source == "torchrun" &&
                     lookup(env, "TORCHELASTIC_USE_AGENT_STORE").value_or("") == "True";
  const auto attempt = lookup(env, "TORCHELASTIC_RESTART_COUNT");
  auto job = lookup(env, "COHORT_JOB_ID");
  info.job_id = job && !job->empty() ? *job : fmt::format("port{}", info.master_port);
  if (info.agent_store && attempt)
    info.job_id +=
        fmt::format("/attempt{}", parse_int(*attempt, "TORCHELASTIC_RESTART_COUNT", "torchrun"));
  if (auto file = lookup(env, "COHORT_RENDEZVOUS_FILE")) info.rendezvous_file = *file;
  return info;
}

Environment process_environment() {
  Environment env;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    std::string item(*entry);
    auto eq = item.find('=');
    if (eq != std::string::npos) env.emplace(item.substr(0, eq), item.substr(eq + 1));
  }
  return env;
}

WorldInfo world_info_from_environment(const std::string& config_master_addr) {
  return parse_world_info(process_environment(), config_master_addr);
}

}  // namespace cohort
