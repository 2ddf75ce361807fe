#include "cohort/member_layout.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <charconv>

#include "cohort/error.h"

namespace cohort {
namespace {

std::string member_name(const Config& config, size_t k) {
  return fmt::format("network.{} ('{}')", k, config.networks[k].name);
}

// The member's own ranks, checked against the world and its `data`.
std::vector<int> given_ranks(const Config& config, size_t k, int world_size) {
  const NetworkConfig& n = config.networks[k];
  std::vector<int> ranks;
  for (int64_t r : n.ranks) {
    if (r < 0 || r >= world_size)
      throw InputError(
          fmt::format("{}: ranks names rank {}, but the job has ranks 0 to {}: "
                      "train with --nproc {} or more, or name other ranks",
                      member_name(config, k), r, world_size - 1, r + 1));
    if (std::find(ranks.begin(), ranks.end(), int(r)) != ranks.end())
      throw InputError(
          fmt::format("{}: ranks names rank {} twice; each replica needs a rank "
                      "of its own",
                      member_name(config, k), r));
    ranks.push_back(int(r));
  }
  if (!ranks.empty() && n.data != 0 && n.data != int64_t(ranks.size()))
    throw InputError(
        fmt::format("{}: data = {} but ranks names {} ranks; one replica per rank: "
                    "make them agree, or leave data out",
                    member_name(config, k), n.data, ranks.size()));
  return ranks;
}

void check_member(const Config& config, size_t k, int replicas, int world_size) {
  const NetworkConfig& n = config.networks[k];
  if (n.pipeline > 1)
    throw InputError(fmt::format(
        "{}: pipeline = {}: a pipelined member beside others is not built yet (members are "
        "data-parallel); set its pipeline = 1, or train it alone with parallel.pipeline",
        member_name(config, k), n.pipeline));
  if (replicas > world_size)
    throw InputError(
        fmt::format("{}: data = {} replicas, but the job has {} ranks: train with "
                    "--nproc {}, or lower its data",
                    member_name(config, k), replicas, world_size, replicas));
  const int64_t global = config.parallel.data * config.train.batch_size;
  if (global % replicas != 0)
    throw InputError(fmt::format(
        "{}: its {} replicas cannot split the global batch of parallel.data x train.batch_size "
        "= {} samples evenly; choose a data degree that divides {}",
        member_name(config, k), replicas, global, global));
}

}  // namespace

MemberLayouts::MemberLayouts(std::vector<std::vector<int>> ranks, int world_size)
    : ranks_(std::move(ranks)), world_size_(world_size) {}

int MemberLayouts::replica_on(size_t member, int rank) const {
  const auto& r = ranks_[member];
  const auto it = std::find(r.begin(), r.end(), rank);
  return it == r.end() ? -1 : int(it - r.begin());
}

std::vector<size_t> MemberLayouts::trained_on(int rank) const {
  std::vector<size_t> out;
  for (size_t k = 0; k < ranks_.size(); ++k)
    if (replica_on(k, rank) >= 0) out.push_back(k);
  return out;
}

std::string MemberLayouts::describe(const std::vector<std::string>& names) const {
  std::string out;
  for (int r = 0; r < world_size_; ++r) {
    out += fmt::format("{}rank {}:", r ? "; " : "", r);
    const auto members = trained_on(r);
    for (size_t i = 0; i < members.size(); ++i) {
      const size_t k = members[i];
      out += fmt::format("{} {}", i ? "," : "", names[k]);
      if (replicas(k) > 1) out += fmt::format(" (replica {} of {})", replica_on(k, r), replicas(k));
    }
  }
  return out;
}

bool uses_member_layouts(const Config& config) {
  return std::any_of(config.networks.begin(), config.networks.end(), [](const NetworkConfig& n) {
    return n.data != 0 || n.pipeline != 0 || !n.ranks.empty();
  });
}

std::vector<std::vector<int>> round_robin_ranks(const std::vector<int>& replicas, int world_size) {
  std::vector<std::vector<int>> placed;
  int next = 0;  // where the next member starts
  for (int d : replicas) {
    std::vector<int> ranks;
    for (int i = 0; i < d; ++i) ranks.push_back((next + i) % world_size);
    next = (next + d) % world_size;
    placed.push_back(std::move(ranks));
  }
  return placed;
}

MemberLayouts place_members(const Config& config, int world_size) {
  std::vector<std::vector<int>> placed;
  std::vector<int> unplaced;  // the replicas of the members without their own ranks, in order
  for (size_t k = 0; k < config.networks.size(); ++k) {
    const NetworkConfig& n = config.networks[k];
    std::vector<int> ranks = given_ranks(config, k, world_size);
    const int replicas =
        ranks.empty() ? int(n.data ? n.data : config.parallel.data) : int(ranks.size());
    check_member(config, k, replicas, world_size);
    if (ranks.empty()) unplaced.push_back(replicas);
    placed.push_back(std::move(ranks));
  }
  std::vector<std::vector<int>> dealt = round_robin_ranks(unplaced, world_size);
  auto next = dealt.begin();
  for (std::vector<int>& ranks : placed)
    if (ranks.empty()) ranks = std::move(*next++);
  MemberLayouts layouts(std::move(placed), world_size);
  for (int r = 0; r < world_size; ++r)
    if (layouts.trained_on(r).empty())
      throw InputError(fmt::format(
          "rank {} of {} trains no network under the members' layouts: train with fewer ranks "
          "(--nproc), raise a member's data, or name rank {} in a member's ranks",
          r, world_size, r));
  return layouts;
}

std::string format_member_ranks(const std::vector<std::vector<int>>& ranks) {
  std::string out;
  for (size_t k = 0; k < ranks.size(); ++k)
    out += fmt::format("{}{}", k ? ";" : "", fmt::join(ranks[k], ","));
  return out;
}

MemberLayouts place_members_as(const Config& config, int world_size, const std::string& text,
                               const std::string& source) {
  Config placed = config;
  size_t member = 0, begin = 0;
  for (; begin <= text.size(); ++member) {
    const size_t end = std::min(text.find(';', begin), text.size());
    if (member >= placed.networks.size()) break;
    auto& ranks = placed.networks[member].ranks;
    ranks.clear();
    for (size_t at = begin; at < end;) {
      const size_t comma = std::min(text.find(',', at), end);
      int64_t rank = -1;
      const auto [stop, error] = std::from_chars(text.data() + at, text.data() + comma, rank);
      if (error != std::errc() || stop != text.data() + comma)
        throw InputError(fmt::format("{}='{}': '{}' is not a rank (expected ranks like 0,1;2;0)",
                                     source, text, text.substr(at, comma - at)));
      ranks.push_back(rank);
      at = comma + 1;
    }
    if (ranks.empty())
      throw InputError(fmt::format("{}='{}' gives member {} no ranks", source, text, member));
    begin = end + 1;
  }
  if (member != config.networks.size() || begin <= text.size())
    throw InputError(fmt::format("{}='{}' places {} members, but the config has {}", source, text,
                                 std::count(text.begin(), text.end(), ';') + 1,
                                 config.networks.size()));
  return place_members(placed, world_size);
}

}  // namespace cohort
