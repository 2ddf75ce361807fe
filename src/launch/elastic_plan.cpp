#include "launch/elastic_plan.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>

#include "cohort/error.h"

namespace cohort {
namespace {

int parse_count(const std::string& text, const std::string& whole) {
  int value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || value < 1)
    throw InputError(fmt::format(
        "--nproc {}: expected a number of ranks N or a range MIN:MAX of them (1 <= MIN <= MAX)",
        whole));
  return value;
}

}  // namespace

RankRange parse_rank_range(const std::string& text) {
  const auto colon = text.find(':');
  if (colon == std::string::npos) {
    const int n = parse_count(text, text);
    return {n, n};
  }
  RankRange range{parse_count(text.substr(0, colon), text),
                  parse_count(text.substr(colon + 1), text)};
  if (range.min > range.max)
    throw InputError(fmt::format("--nproc {}: MIN is larger than MAX", text));
  return range;
}

int reformed_ranks(int replicas, int alive, int min, int ranks_per_replica) {
  for (int held = std::min(alive / ranks_per_replica, replicas); held >= 1; --held) {
    const int ranks = held * ranks_per_replica;
    if (ranks < std::max(min, 1)) return 0;
    if (replicas % held == 0) return ranks;
  }
  return 0;
}

int replicas_per_rank(int replicas, int ranks, int ranks_per_replica) {
  if (ranks < 1 || ranks % ranks_per_replica != 0 || replicas % (ranks / ranks_per_replica) != 0)
    throw InputError(
        fmt::format("{}={}: {} data replicas of {} rank{} each cannot be shared evenly by {} ranks",
                    kElasticRanksVariable, ranks, replicas, ranks_per_replica,
                    ranks_per_replica > 1 ? "s" : "", ranks));
  return replicas / (ranks / ranks_per_replica);
}

int reformed_ranks(const ElasticShape& shape, int alive, int min) {
  if (shape.members) return alive >= std::max(min, 1) ? alive : 0;
  return reformed_ranks(shape.replicas, alive, min, shape.ranks_per_replica);
}

std::string reformed_roles(const ElasticShape& shape, int ranks) {
  if (const auto planned = shape.planned.find(ranks);
      shape.members && planned != shape.planned.end())
    return fmt::format("its members re-planned over them ({})", planned->second.predicted);
  if (shape.members) return "its members placed again over them";
  return fmt::format("each playing {} of the {} replicas",
                     replicas_per_rank(shape.replicas, ranks, shape.ranks_per_replica),
                     shape.replicas);
}

}  // namespace cohort
