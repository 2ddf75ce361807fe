#include "cohort/plan/cluster_file.h"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <algorithm>
#include <filesystem>

#include "cohort/error.h"
#include "config/reader.h"
#include "io/input_file.h"

namespace cohort {
namespace {

using config_detail::at_least;
using config_detail::positive;
using config_detail::TableReader;

Link read_link(TableReader& parent, const char* key) {
  Link link;
  const toml::node* node = parent.get(key);
  if (!node) return link;
  if (!node->is_table())
    throw InputError(fmt::format("{}{} must be a table with gbytes_per_second and latency_us",
                                 config_detail::where(*node), key));
  TableReader reader(*node->as_table(), std::string(key) + ".");
  double gbytes = link.bytes_per_second / 1e9, latency_us = link.latency_seconds * 1e6;
  reader.read("gbytes_per_second", gbytes, positive(1e6));
  reader.read("latency_us", latency_us, at_least(0, 1e7));
  reader.finish();
  return Link{gbytes * 1e9, latency_us * 1e-6};
}

}  // namespace

ClusterSpec load_cluster(const std::string& path) {
  if (!std::filesystem::is_regular_file(path))
    throw InputError(fmt::format("{}: no such cluster file (docs/planner.md describes one)", path));
  const std::vector<char> bytes = read_input_file(path);
  const toml::table table =
      config_detail::parse_toml(std::string(bytes.begin(), bytes.end()), path);
  TableReader reader(table, "");
  ClusterSpec cluster;
  int64_t ranks = 0, ranks_per_host = 0;
  double memory_gb = 0;
  if (!table.contains("ranks"))
    throw InputError(fmt::format("{}: the cluster needs `ranks = N`", path));
  reader.read("ranks", ranks, at_least(1, 1 << 20));
  ranks_per_host = ranks;
  reader.read("ranks_per_host", ranks_per_host, at_least(1, 1 << 20));
  reader.read("speed", cluster.speed, positive(1e6));
  reader.read("memory_gb", memory_gb, at_least(0, 1e6, "0 = unbounded"));
  reader.read("overlap", cluster.overlap, at_least(0, 1));
  int64_t cores = 0;
  reader.read("cores_per_host", cores, at_least(0, 1 << 20, "0 = one per rank"));
  cluster.cores_per_host = static_cast<int>(cores);
  cluster.within_host = read_link(reader, "within_host");
  cluster.between_hosts = read_link(reader, "between_hosts");
  reader.finish();
  cluster.ranks = static_cast<int>(ranks);
  cluster.ranks_per_host = static_cast<int>(std::min(ranks_per_host, ranks));
  cluster.memory_bytes = memory_gb * 1e9;
  return cluster;
}

}  // namespace cohort
