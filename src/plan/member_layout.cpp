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

int64_t stages_of(const NetworkConfig& n) { return n.pipeline > 1 ? n.pipeline : 1; }

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
  const int64_t stages = stages_of(n), given = int64_t(ranks.size());
  if (given == 0) return ranks;
  if (n.data != 0 && n.data * stages != given && stages == 1)
    throw InputError(
        fmt::format("{}: data = {} but ranks names {} ranks; one replica per rank: "
                    "make them agree, or leave data out",
                    member_name(config, k), n.data, given));
  if (n.data != 0 && n.data * stages != given)
    throw InputError(fmt::format(
        "{}: data = {} x pipeline = {} needs {} ranks, but ranks names {}; one stage of one "
        "replica per rank: make them agree, or leave data out",
        member_name(config, k), n.data, stages, n.data * stages, given));
  if (given % stages != 0)
    throw InputError(fmt::format(
        "{}: ranks names {} ranks, which pipeline = {} stages per replica cannot share: name "
        "a multiple of {} (replica i's stage s is the (i x {} + s)-th)",
        member_name(config, k), given, stages, stages, stages));
  return ranks;
}

void check_member(const Config& config, size_t k, int replicas, int world_size) {
  const NetworkConfig& n = config.networks[k];
  const int64_t stages = stages_of(n);
  if (replicas > world_size && stages == 1)
    throw InputError(
        fmt::format("{}: data = {} replicas, but the job has {} ranks: train with "
                    "--nproc {}, or lower its data",
                    member_name(config, k), replicas, world_size, replicas));
  if (replicas * stages > world_size)
    throw InputError(
        fmt::format("{}: data = {} x pipeline = {} needs {} ranks, but the job has {}: train with "
                    "--nproc {}, or lower its data or pipeline",
                    member_name(config, k), replicas, stages, replicas * stages, world_size,
                    replicas * stages));
  const int64_t global = config.parallel.data * config.train.batch_size;
  if (global % replicas != 0)
    throw InputError(fmt::format(
        "{}: its {} replicas cannot split the global batch of parallel.data x train.batch_size "
        "= {} samples evenly; choose a data degree that divides {}",
        member_name(config, k), replicas, global, global));
  if (stages > 1 && global / replicas < config.parallel.micro_batches)
    throw InputError(fmt::format(
        "{}: each of its {} pipelined replicas takes {} samples of the global batch, fewer than "
        "parallel.micro_batches = {}: lower micro_batches or data, or raise train.batch_size",
        member_name(config, k), replicas, global / replicas, config.parallel.micro_batches));
}

}  // namespace

MemberLayouts::MemberLayouts(std::vector<std::vector<int>> ranks, int world_size,
                             std::vector<int> stages)
    : ranks_(std::move(ranks)), world_size_(world_size), stages_(std::move(stages)) {
  if (stages_.empty()) stages_.assign(ranks_.size(), 1);
}

int MemberLayouts::position_on(size_t member, int rank) const {
  const auto& r = ranks_[member];
  const auto it = std::find(r.begin(), r.end(), rank);
  return it == r.end() ? -1 : int(it - r.begin());
}

int MemberLayouts::replica_on(size_t member, int rank) const {
  const int at = position_on(member, rank);
  return at < 0 ? -1 : at / stages_[member];
}

int MemberLayouts::stage_on(size_t member, int rank) const {
  const int at = position_on(member, rank);
  return at < 0 ? -1 : at % stages_[member];
}

int MemberLayouts::logits_replica(size_t member, int rank) const {
  return stage_on(member, rank) == stages_[member] - 1 ? replica_on(member, rank) : -1;
}

std::vector<size_t> MemberLayouts::trained_on(int rank) const {
  std::vector<size_t> out;
  for (size_t k = 0; k < ranks_.size(); ++k)
    if (replica_on(k, rank) >= 0) out.push_back(k);
  return out;
}

std::vector<size_t> MemberLayouts::whole_on(int rank) const {
  std::vector<size_t> out;
  for (size_t k = 0; k < ranks_.size(); ++k)
    if (whole_on(k, rank)) out.push_back(k);
  return out;
}

bool MemberLayouts::all_whole_on_same_ranks() const {
  for (size_t k = 0; k < ranks_.size(); ++k)
    if (pipelined(k) || ranks_[k] != ranks_.front()) return false;
  return true;
}

std::string MemberLayouts::describe(const std::vector<std::string>& names) const {
  std::string out;
  for (int r = 0; r < world_size_; ++r) {
    out += fmt::format("{}rank {}:", r ? "; " : "", r);
    const auto members = trained_on(r);
    for (size_t i = 0; i < members.size(); ++i) {
      const size_t k = members[i];
      out += fmt::format("{} {}", i ? "," : "", names[k]);
      std::vector<std::string> where;
      if (replicas(k) > 1)
        where.push_back(fmt::format("replica {} of {}", replica_on(k, r), replicas(k)));
      if (pipelined(k)) where.push_back(fmt::format("stage {} of {}", stage_on(k, r), stages(k)));
      if (!where.empty()) out += fmt::format(" ({})", fmt::join(where, ", "));
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
  std::vector<int> stages;
  std::vector<int> unplaced;  // the ranks of the members without their own, in order
  for (size_t k = 0; k < config.networks.size(); ++k) {
    const NetworkConfig& n = config.networks[k];
    std::vector<int> ranks = given_ranks(config, k, world_size);
    stages.push_back(int(stages_of(n)));
    const int replicas = ranks.empty() ? int(n.data ? n.data : config.parallel.data)
                                       : int(ranks.size()) / stages.back();
    check_member(config, k, replicas, world_size);
    if (ranks.empty()) unplaced.push_back(replicas * stages.back());
    placed.push_back(std::move(ranks));
  }
  std::vector<std::vector<int>> dealt = round_robin_ranks(unplaced, world_size);
  auto next = dealt.begin();
  for (std::vector<int>& ranks : placed)
    if (ranks.empty()) ranks = std::move(*next++);
  MemberLayouts layouts(std::move(placed), world_size, std::move(stages));
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
