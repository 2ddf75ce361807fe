#include "cohort/plan/planner.h"

#include <fmt/format.h>

#include <algorithm>
#include <limits>
#include <numeric>
#include <optional>

#include "cohort/error.h"
#include "cohort/logit_routes.h"

namespace cohort {
namespace {

constexpr double kNever = std::numeric_limits<double>::infinity();

struct Choice {
  Layout layout;
  double step_seconds = kNever;
  double memory_bytes = 0;
};

void check_inputs(const std::vector<MemberCost>& members, const ClusterSpec& cluster,
                  const PlanOptions& options) {
  if (members.empty()) throw InputError("the cohort has no members to plan");
  if (cluster.ranks < 1 || cluster.ranks_per_host < 1 || cluster.speed <= 0)
    throw InputError(fmt::format(
        "the cluster needs at least one rank, one rank per host and a positive speed (got ranks "
        "{}, ranks_per_host {}, speed {})",
        cluster.ranks, cluster.ranks_per_host, cluster.speed));
  if (options.global_batch < 1 || options.micro_batches < 1 || options.max_pipeline < 1)
    throw InputError("the batch, the micro-batches and the pipeline depth must be at least 1");
  for (const MemberCost& m : members) {
    const size_t layers = m.layer_seconds.size();
    if (layers == 0 || m.layer_output_bytes.size() != layers ||
        m.layer_parameter_bytes.size() != layers)
      throw InputError(fmt::format(
          "member '{}': its costs need one time, one output size and one parameter size per "
          "layer (got {}, {} and {})",
          m.name, layers, m.layer_output_bytes.size(), m.layer_parameter_bytes.size()));
  }
}

bool fits_memory(double bytes, const ClusterSpec& cluster) {
  return cluster.memory_bytes <= 0 || bytes <= cluster.memory_bytes;
}

bool one_host(const ClusterSpec& cluster) { return cluster.ranks <= cluster.ranks_per_host; }

// The most micro-batches up to the option's that split the replica's batch evenly.
int micro_batches_for(int64_t replica_batch, const PlanOptions& options) {
  for (int m = options.micro_batches; m > 1; --m)
    if (replica_batch % m == 0) return m;
  return 1;
}

// `ranks`, or options.max_data where that is fewer.
int most_replicas(int ranks, const PlanOptions& options) {
  return options.max_data > 0 ? std::min(ranks, options.max_data) : ranks;
}

// best[r]: the member's fastest layout on exactly r ranks joined by `link`
// (index 0 unused; kNever where no layout of r ranks is valid or fits memory).
// Under codistillation a member's ranks also run every stale copy on its rows.
std::vector<Choice> best_per_rank_count(const MemberCost& member,
                                        const std::vector<MemberCost>& members,
                                        const ClusterSpec& cluster, const PlanOptions& options,
                                        const Link& link) {
  std::vector<Choice> best(cluster.ranks + 1);
  for (int r = 1; r <= cluster.ranks; ++r) {
    for (int p = 1; p <= std::min(r, options.max_pipeline); ++p) {
      if (r % p != 0) continue;
      Layout layout{r / p, p, 1};
      if (options.global_batch % layout.data != 0) continue;
      if (options.max_data > 0 && layout.data > options.max_data) continue;
      if (p > 1)
        layout.micro_batches = micro_batches_for(options.global_batch / layout.data, options);
      if (!layout_valid(member, layout, options.global_batch)) continue;
      const StepEstimate e = estimate_step(member, layout, cluster, link, options.global_batch);
      const double seconds =
          e.step_seconds + stale_copy_seconds(members, options.cooperation,
                                              double(options.global_batch) / layout.data, cluster);
      if (fits_memory(e.memory_bytes, cluster) && seconds < best[r].step_seconds)
        best[r] = Choice{layout, seconds, e.memory_bytes};
    }
  }
  return best;
}

// A member's choices on ranks within one host and on ranks across hosts.
struct MemberChoices {
  std::vector<Choice> within, across;
  double fastest = kNever;  // over every rank count: the least step it can have
};

// Each rank's busy seconds and bytes as members are put on it.
struct RankLoads {
  std::vector<double> seconds, bytes;
  bool fits(int rank, const Choice& c, double target, const ClusterSpec& cluster) const {
    return seconds[rank] + c.step_seconds <= target &&
           fits_memory(bytes[rank] + c.memory_bytes, cluster);
  }
};

// The r fullest ranks among [first, last) that still take `c` under `target`
// (fullest first keeps the emptier ranks for members still to come); empty when
// fewer than r do.
std::vector<int> fullest_fitting(const RankLoads& loads, const Choice& c, int r, int first,
                                 int last, double target, const ClusterSpec& cluster) {
  std::vector<int> fitting;
  for (int rank = first; rank < last; ++rank)
    if (loads.fits(rank, c, target, cluster)) fitting.push_back(rank);
  if (static_cast<int>(fitting.size()) < r) return {};
  std::stable_sort(fitting.begin(), fitting.end(),
                   [&](int x, int y) { return loads.seconds[x] > loads.seconds[y]; });
  fitting.resize(r);
  std::sort(fitting.begin(), fitting.end());
  return fitting;
}

// Ranks for `c` on r ranks within one host: the host whose fitting ranks are fullest.
std::vector<int> ranks_in_one_host(const RankLoads& loads, const Choice& c, int r, double target,
                                   const ClusterSpec& cluster) {
  std::vector<int> chosen;
  double chosen_load = -1;
  for (int first = 0; first < cluster.ranks; first += cluster.ranks_per_host) {
    const int last = std::min(cluster.ranks, first + cluster.ranks_per_host);
    std::vector<int> ranks = fullest_fitting(loads, c, r, first, last, target, cluster);
    double load = 0;
    for (int rank : ranks) load += loads.seconds[rank];
    if (!ranks.empty() && load > chosen_load) chosen = std::move(ranks), chosen_load = load;
  }
  return chosen;
}

// Every member placed so that no rank is busy longer than `target`, or empty
// when this greedy cannot: members in decreasing order of their single-rank
// cost, each on the fewest ranks (within one host where it fits in one) whose
// loads still take it. Ranks of a member may be shared with others.
std::vector<MemberPlan> allocate(const std::vector<MemberCost>& members,
                                 const std::vector<MemberChoices>& choices,
                                 const std::vector<int>& order, double target,
                                 const ClusterSpec& cluster) {
  RankLoads loads{std::vector<double>(cluster.ranks, 0), std::vector<double>(cluster.ranks, 0)};
  std::vector<MemberPlan> placed(members.size());
  const bool single_host = one_host(cluster);  // then `across` repeats `within`
  for (int i : order) {
    const MemberChoices& mc = choices[i];
    if (mc.fastest > target) return {};
    bool done = false;
    for (int r = 1; r <= cluster.ranks && !done; ++r) {
      for (const bool within : {true, false}) {
        const Choice& c = within ? mc.within[r] : mc.across[r];
        if (c.step_seconds > target || (within && r > cluster.ranks_per_host) ||
            (!within && single_host))
          continue;
        const std::vector<int> ranks =
            within ? ranks_in_one_host(loads, c, r, target, cluster)
                   : fullest_fitting(loads, c, r, 0, cluster.ranks, target, cluster);
        if (ranks.empty()) continue;
        placed[i] = MemberPlan{members[i].name, c.layout, ranks, false, {}};
        for (int rank : ranks) {
          loads.seconds[rank] += c.step_seconds;
          loads.bytes[rank] += c.memory_bytes;
        }
        done = true;
        break;
      }
    }
    if (!done) return {};
  }
  return placed;
}

// The members' indices in decreasing cost per sample, ties in config order:
// the order the greedy places them in and the blocks are dealt them.
std::vector<int> dearest_first(const std::vector<MemberCost>& members) {
  std::vector<int> order(members.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int x, int y) {
    return members[x].seconds_per_sample() > members[y].seconds_per_sample();
  });
  return order;
}

// The placement as the run lays it out (its stages included).
MemberLayouts layouts_of(const std::vector<MemberPlan>& placed, int world_size) {
  std::vector<std::vector<int>> ranks;
  std::vector<int> stages;
  for (const MemberPlan& p : placed) {
    ranks.push_back(p.ranks);
    stages.push_back(p.layout.pipeline);
  }
  return MemberLayouts(std::move(ranks), world_size, std::move(stages));
}

// The rows rank `rank` trains members on: (replicas, replica) of each member
// whose loss it computes (a pipeline's last stage), equal pairs being equal rows.
std::vector<std::pair<int, int>> row_sets_on(const MemberLayouts& layouts, int rank) {
  std::vector<std::pair<int, int>> sets;
  for (size_t k : layouts.trained_on(rank)) {
    const int replica = layouts.logits_replica(k, rank);
    if (replica < 0) continue;
    const std::pair<int, int> rows{layouts.replicas(k), replica};
    if (std::find(sets.begin(), sets.end(), rows) == sets.end()) sets.push_back(rows);
  }
  return sets;
}

// Each rank's share of the members learning from each other: the exchange
// where the members' ranks differ (as MemberExchange decides), and
// codistillation's stale copies once per set of rows on the rank.
void add_cooperation(const std::vector<MemberCost>& members, const std::vector<MemberPlan>& placed,
                     const ClusterSpec& cluster, const PlanOptions& options, CohortPlan& plan) {
  const MemberLayouts layouts = layouts_of(placed, cluster.ranks);
  std::vector<int> used;
  for (const MemberPlan& p : placed) used.insert(used.end(), p.ranks.begin(), p.ranks.end());
  std::sort(used.begin(), used.end());
  used.erase(std::unique(used.begin(), used.end()), used.end());
  if (!layouts.all_whole_on_same_ranks()) {
    const Link& link = link_between(used, cluster);
    if (options.cooperation.kind == Cooperation::Kind::logits)
      plan.exchange_seconds =
          logit_exchange_seconds(members, logit_traffic(layouts, options.global_batch), link);
    else
      plan.exchange_seconds = weight_exchange_seconds(members, options.cooperation,
                                                      static_cast<int>(used.size()), link);
  }
  for (int r : used) {
    double stale = 0;
    for (const auto& rows : row_sets_on(layouts, r))
      stale += stale_copy_seconds(members, options.cooperation,
                                  double(options.global_batch) / rows.first, cluster);
    plan.rank_seconds.at(r) += plan.exchange_seconds + stale;
  }
}

// The ranks cut into `groups` equal blocks, each member data-parallel over one
// block (all of it where the batch splits so), members dealt dearest first to
// the least loaded block. Members of one block train on the same rows: nothing
// to exchange among them and their stale copies forwarded once, which the
// greedy, placing each member on the fewest ranks it needs, does not weigh. One
// block: every member over all the ranks, no exchange at all.
CohortPlan grouped_plan(const std::vector<MemberCost>& members, const ClusterSpec& cluster,
                        const PlanOptions& options, int groups) {
  const int block = cluster.ranks / groups;
  int data = most_replicas(block, options);
  while (options.global_batch % data != 0) --data;
  std::vector<double> load(size_t(groups), 0.0);
  std::vector<MemberPlan> placed(members.size());
  for (int i : dearest_first(members)) {
    const size_t g = size_t(std::min_element(load.begin(), load.end()) - load.begin());
    load[g] += members[i].seconds_per_sample();
    placed[i].name = members[i].name;
    placed[i].layout = Layout{data, 1, 1};
    for (int d = 0; d < data; ++d) placed[i].ranks.push_back(int(g) * block + d);
  }
  return evaluate_plan(members, std::move(placed), cluster, options);
}

// Ranks of one host time-share its cores (ClusterSpec::cores_per_host): where
// more of them are busy than there are cores, none finishes before the host's
// total work spread over its cores.
void add_core_contention(const ClusterSpec& cluster, CohortPlan& plan) {
  if (cluster.cores_per_host <= 0) return;
  for (int first = 0; first < cluster.ranks; first += cluster.ranks_per_host) {
    const int last = std::min(cluster.ranks, first + cluster.ranks_per_host);
    double work = 0;
    int busy = 0;
    for (int r = first; r < last; ++r) {
      work += plan.rank_seconds[size_t(r)];
      busy += plan.rank_seconds[size_t(r)] > 0;
    }
    if (busy <= cluster.cores_per_host) continue;
    const double shared = work / cluster.cores_per_host;
    for (int r = first; r < last; ++r)
      if (plan.rank_seconds[size_t(r)] > 0)
        plan.rank_seconds[size_t(r)] = std::max(plan.rank_seconds[size_t(r)], shared);
  }
}

// Ranks beyond a host's cores only time-share them: the plan for as many ranks
// per host as it has cores, the others left idle, which the greedy (blind to
// the sharing) would not find. Nothing where the cores are not fewer, or the
// hosts are not all full.
std::optional<CohortPlan> plan_on_the_cores(const std::vector<MemberCost>& members,
                                            const ClusterSpec& cluster,
                                            const PlanOptions& options) {
  const int cores = cluster.cores_per_host, per_host = cluster.ranks_per_host;
  if (cores <= 0 || cores >= per_host || cluster.ranks % per_host != 0) return std::nullopt;
  ClusterSpec fewer = cluster;
  fewer.ranks = cluster.ranks / per_host * cores;
  fewer.ranks_per_host = cores;
  std::vector<MemberPlan> placed;
  try {
    placed = plan_cohort(members, fewer, options).members;
  } catch (const InputError&) {
    return std::nullopt;  // fewer ranks may not hold the members' memory
  }
  for (MemberPlan& m : placed)
    for (int& r : m.ranks) r = r / cores * per_host + r % cores;
  return evaluate_plan(members, std::move(placed), cluster, options);
}

}  // namespace

const Link& link_between(const std::vector<int>& ranks, const ClusterSpec& cluster) {
  if (ranks.empty()) return cluster.within_host;
  const auto [lo, hi] = std::minmax_element(ranks.begin(), ranks.end());
  return *lo / cluster.ranks_per_host == *hi / cluster.ranks_per_host ? cluster.within_host
                                                                      : cluster.between_hosts;
}

CohortPlan evaluate_plan(const std::vector<MemberCost>& members, std::vector<MemberPlan> placed,
                         const ClusterSpec& cluster, const PlanOptions& options) {
  check_inputs(members, cluster, options);
  CohortPlan plan;
  plan.rank_seconds.assign(cluster.ranks, 0);
  std::vector<double> rank_bytes(cluster.ranks, 0);
  std::vector<int> rank_members(cluster.ranks, 0);
  for (size_t i = 0; i < placed.size(); ++i) {
    MemberPlan& p = placed[i];
    if (static_cast<int>(p.ranks.size()) != p.layout.ranks() ||
        !layout_valid(members.at(i), p.layout, options.global_batch))
      throw InputError(fmt::format(
          "member '{}': layout data {} x pipeline {} on {} ranks cannot "
          "train a global batch of {}",
          members[i].name, p.layout.data, p.layout.pipeline, p.ranks.size(), options.global_batch));
    p.estimate = estimate_step(members[i], p.layout, cluster, link_between(p.ranks, cluster),
                               options.global_batch);
    for (int r : p.ranks) {
      plan.rank_seconds.at(r) += p.estimate.step_seconds;
      rank_bytes.at(r) += p.estimate.memory_bytes;
      ++rank_members[r];
    }
  }
  add_cooperation(members, placed, cluster, options, plan);
  add_core_contention(cluster, plan);
  const auto busiest = std::max_element(plan.rank_seconds.begin(), plan.rank_seconds.end());
  plan.step_seconds = *busiest;
  const int busiest_rank = static_cast<int>(busiest - plan.rank_seconds.begin());
  double slowest = -1;
  for (MemberPlan& p : placed) {
    for (int r : p.ranks) p.shares_ranks = p.shares_ranks || rank_members[r] > 1;
    const bool on_busiest =
        std::find(p.ranks.begin(), p.ranks.end(), busiest_rank) != p.ranks.end();
    if (on_busiest && p.estimate.step_seconds > slowest) {
      slowest = p.estimate.step_seconds;
      plan.bottleneck = p.name;
    }
  }
  plan.peak_memory_bytes = *std::max_element(rank_bytes.begin(), rank_bytes.end());
  plan.fits = fits_memory(plan.peak_memory_bytes, cluster);
  plan.members = std::move(placed);
  return plan;
}

CohortPlan plan_cohort(const std::vector<MemberCost>& members, const ClusterSpec& cluster,
                       const PlanOptions& options) {
  check_inputs(members, cluster, options);
  std::vector<MemberChoices> choices;
  std::vector<double> targets;
  for (const MemberCost& m : members) {
    // On one host every choice is a within-host one: no second pass for the other link.
    std::vector<Choice> within =
        best_per_rank_count(m, members, cluster, options, cluster.within_host);
    std::vector<Choice> across =
        one_host(cluster)
            ? within
            : best_per_rank_count(m, members, cluster, options, cluster.between_hosts);
    MemberChoices mc{std::move(within), std::move(across)};
    for (int r = 1; r <= cluster.ranks; ++r)
      for (const Choice& c : {mc.within[r], mc.across[r]})
        if (c.step_seconds != kNever) {
          mc.fastest = std::min(mc.fastest, c.step_seconds);
          targets.push_back(c.step_seconds);
        }
    if (mc.fastest == kNever)
      throw InputError(fmt::format(
          "member '{}' fits no layout on {} ranks of {:.3g} GB: give the ranks more memory, "
          "the cohort more ranks or the member a smaller batch",
          m.name, cluster.ranks, cluster.memory_bytes / 1e9));
    choices.push_back(std::move(mc));
  }
  const std::vector<int> order = dearest_first(members);
  auto feasible = [&](double target) {
    return !allocate(members, choices, order, target, cluster).empty();
  };
  // Every member on one rank's worth of its single-rank time bounds the answer
  // from above (when memory allows); the least member time from below.
  double upper = 0;
  for (const MemberChoices& mc : choices) upper += mc.within[1].step_seconds;
  targets.push_back(upper);
  std::sort(targets.begin(), targets.end());
  targets.erase(std::unique(targets.begin(), targets.end()), targets.end());
  while (!targets.empty() && targets.back() == kNever) targets.pop_back();
  // The greedy is close to monotone in the target: search the candidate times
  // for the least that it meets, then the gap below it by bisection.
  const auto first_met =
      std::partition_point(targets.begin(), targets.end(), [&](double t) { return !feasible(t); });
  std::optional<CohortPlan> best;
  if (first_met != targets.end()) {
    double met = *first_met, missed = first_met == targets.begin() ? 0 : *(first_met - 1);
    for (int i = 0; i < 60 && met - missed > 1e-9 * met; ++i) {
      const double mid = (met + missed) / 2;
      (feasible(mid) ? met : missed) = mid;
    }
    best =
        evaluate_plan(members, allocate(members, choices, order, met, cluster), cluster, options);
  }
  // Today's placement, or members in equal blocks of ranks, where better still:
  // the greedy is a heuristic, and does not see what sharing rows saves.
  std::vector<CohortPlan> others = {naive_plan(members, cluster, options)};
  if (std::optional<CohortPlan> cut = plan_on_the_cores(members, cluster, options))
    others.push_back(std::move(*cut));
  for (int groups = 1; groups <= std::min<int>(cluster.ranks, int(members.size())); ++groups)
    if (cluster.ranks % groups == 0)
      others.push_back(grouped_plan(members, cluster, options, groups));
  for (CohortPlan& other : others)
    if (other.fits && (!best || other.step_seconds < best->step_seconds)) best = std::move(other);
  if (!best)
    throw InputError(fmt::format(
        "the {} members cannot all be placed on {} ranks within their memory: give the cohort "
        "more ranks or the ranks more memory",
        members.size(), cluster.ranks));
  return *best;
}

CohortPlan naive_plan(const std::vector<MemberCost>& members, const ClusterSpec& cluster,
                      const PlanOptions& options) {
  check_inputs(members, cluster, options);
  const int k = static_cast<int>(members.size());
  const int share = std::max(1, cluster.ranks / k);
  std::vector<MemberPlan> placed(members.size());
  for (int i = 0; i < k; ++i) {
    int data = most_replicas(share, options);
    while (options.global_batch % data != 0) --data;
    placed[i].name = members[i].name;
    placed[i].layout = Layout{data, 1, 1};
    const int first = cluster.ranks >= k ? i * share : i % cluster.ranks;
    for (int d = 0; d < data; ++d) placed[i].ranks.push_back(first + d);
  }
  return evaluate_plan(members, std::move(placed), cluster, options);
}

}  // namespace cohort
