#include "cli/machine_plan.h"

#include <ATen/ops/arange.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <thread>

#include "cohort/data.h"
#include "cohort/error.h"
#include "cohort/member_layout.h"
#include "cohort/plan/profile.h"
#include "cohort/plan/replan.h"
#include "comm/link_probe.h"

namespace cohort::cli {

MeasuredLink measure_machine_link(double overlap) {
  MeasuredLink out;
  out.link.overlap = overlap;
  try {
    const AllreduceTimes t = time_loopback_allreduces();
    const Link link = link_from_allreduces(t.ranks, t.small_bytes, t.small_seconds, t.large_bytes,
                                           t.large_seconds);
    out.link.gbytes_per_second = link.bytes_per_second / 1e9;
    out.link.latency_us = link.latency_seconds * 1e6;
    out.measured = true;
    out.how = fmt::format(
        "measured {:.2f} GB/s and {:.0f} us per message (Gloo allreduces of {:g} B in {:.0f} us "
        "and "
        "{:g} MiB in {:.2f} ms between two ranks, medians)",
        out.link.gbytes_per_second, out.link.latency_us, t.small_bytes, t.small_seconds * 1e6,
        t.large_bytes / double(1 << 20), t.large_seconds * 1e3);
  } catch (const std::exception& e) {
    std::string why = e.what();
    out.how =
        fmt::format("could not measure the link ({}); assuming {:g} GB/s and {:g} us",
                    why.substr(0, why.find('\n')), out.link.gbytes_per_second, out.link.latency_us);
  }
  return out;
}

bool LinkOptions::given() const { return gbps->count() > 0 || latency->count() > 0; }

LinkOptions add_link_options(CLI::App& cmd, MachineLink& link, const std::string& lead) {
  LinkOptions out;
  out.gbps = cmd.add_option("--link-gbps", link.gbytes_per_second,
                            lead +
                                "this machine's link between ranks, GB/s (default: measured by "
                                "two Gloo ranks over loopback)")
                 ->check(CLI::PositiveNumber);
  out.latency = cmd.add_option("--link-latency-us", link.latency_us,
                               lead +
                                   "this machine's latency per message, microseconds (default: "
                                   "measured; with --link-gbps alone, 200)")
                    ->check(CLI::NonNegativeNumber);
  return out;
}

MeasuredLink machine_link(const MachineLink& link, bool given) {
  if (!given) return measure_machine_link(link.overlap);
  MeasuredLink out;
  out.link = link;
  out.how = fmt::format("given {:g} GB/s and {:g} us per message", link.gbytes_per_second,
                        link.latency_us);
  return out;
}

ClusterSpec this_machine(int nproc, const MachineLink& link, int64_t threads) {
  const int64_t cores = std::max(1u, std::thread::hardware_concurrency());
  const int64_t per_rank =
      threads > 0 ? std::min(threads, cores) : std::max<int64_t>(1, cores / nproc);
  ClusterSpec c;
  c.cores_per_host = static_cast<int>(std::max<int64_t>(1, cores / per_rank));
  c.ranks = c.ranks_per_host = nproc;
  c.within_host = c.between_hosts = Link{link.gbytes_per_second * 1e9, link.latency_us * 1e-6};
  c.overlap = link.overlap;
  c.memory_bytes = double(sysconf(_SC_PHYS_PAGES)) * double(sysconf(_SC_PAGE_SIZE)) / nproc;
  return c;
}

std::vector<MemberCost> profile_cohort(const Config& config, int repeats,
                                       const std::function<void(const MemberCost&)>& say) {
  const Splits splits = load_splits(config.data);
  const int64_t batch = std::min<int64_t>(config.train.batch_size, splits.train->size());
  const at::Tensor order = at::arange(splits.train->size());
  const at::Tensor sample = make_batch(*splits.train, order, 0, batch).inputs;
  std::vector<MemberCost> members;
  for (size_t i = 0; i < config.networks.size(); ++i) {
    members.push_back(profile_member(config, i, sample, repeats));
    say(members.back());
  }
  return members;
}

PlanOptions plan_options(const Config& config, int64_t global_batch) {
  PlanOptions options;
  options.global_batch =
      global_batch > 0 ? global_batch : config.train.batch_size * config.parallel.data;
  if (config.parallel.micro_batches > 1) options.micro_batches = int(config.parallel.micro_batches);
  if (config.cooperate.method == "mutual") {
    options.cooperation.kind = Cooperation::Kind::logits;
  } else if (config.cooperate.method == "codistill") {
    options.cooperation.kind = Cooperation::Kind::stale_copies;
    options.cooperation.every = config.cooperate.exchange_every;
  }
  return options;
}

std::vector<MemberPlan> given_layouts(const Config& config, int nproc) {
  const MemberLayouts layouts = place_members(config, nproc);
  std::vector<MemberPlan> placed;
  for (size_t k = 0; k < layouts.members(); ++k) {
    MemberPlan m;
    m.name = config.networks[k].name;
    m.layout.data = layouts.replicas(k);
    m.layout.pipeline = layouts.stages(k);
    if (layouts.pipelined(k)) m.layout.micro_batches = int(config.parallel.micro_batches);
    m.ranks = layouts.ranks(k);
    placed.push_back(std::move(m));
  }
  return placed;
}

CohortPlan plan_to_run(const std::vector<MemberCost>& members, const ClusterSpec& cluster,
                       PlanOptions options, const Config& config) {
  if (config.parallel.shard > 0 || config.cooperate.method == "pbt") options.max_pipeline = 1;
  CohortPlan plan = plan_cohort(members, cluster, options);
  const auto pipelined = std::count_if(plan.members.begin(), plan.members.end(),
                                       [](const MemberPlan& m) { return m.layout.pipeline > 1; });
  if (config.cooperate.method != "mutual" || pipelined < 2) return plan;
  options.max_pipeline = 1;
  try {
    return plan_cohort(members, cluster, options);
  } catch (const InputError& e) {
    throw InputError(fmt::format(
        "the plan pipelines {} members, but under mutual learning at most one can be (each "
        "would wait for the other's predictions), and without pipelines: {}",
        pipelined, e.what()));
  }
}

AppliedPlan apply_plan(const CohortPlan& plan) {
  std::vector<int> used;
  for (const MemberPlan& m : plan.members) used.insert(used.end(), m.ranks.begin(), m.ranks.end());
  std::sort(used.begin(), used.end());
  used.erase(std::unique(used.begin(), used.end()), used.end());
  AppliedPlan applied;
  applied.ranks = int(used.size());
  bool micro_batches_set = false;
  for (size_t k = 0; k < plan.members.size(); ++k) {
    const MemberPlan& m = plan.members[k];
    std::vector<int> ranks;
    for (int r : m.ranks)
      ranks.push_back(int(std::lower_bound(used.begin(), used.end(), r) - used.begin()));
    applied.overrides.push_back(fmt::format("network.{}.ranks=[{}]", k, fmt::join(ranks, ", ")));
    applied.overrides.push_back(fmt::format("network.{}.data={}", k, m.layout.data));
    if (m.layout.pipeline == 1) continue;
    applied.overrides.push_back(fmt::format("network.{}.pipeline={}", k, m.layout.pipeline));
    // One count for every pipeline (the first's); the others' replica batches
    // split as evenly as it allows. The cost model cuts the stages by time.
    if (!micro_batches_set) {
      applied.overrides.push_back(fmt::format("parallel.micro_batches={}", m.layout.micro_batches));
      applied.overrides.push_back("parallel.partition=time");
    }
    micro_batches_set = true;
    applied.member_ranks.push_back(std::move(ranks));
  }
  return applied;
}

std::vector<CohortPlan> plan_reforms(const std::vector<MemberCost>& members, const CohortPlan& plan,
                                     const ClusterSpec& cluster, const PlanOptions& options,
                                     int min, int used) {
  std::vector<int> replicas;
  for (const MemberPlan& m : plan.members) replicas.push_back(m.layout.data);
  std::vector<CohortPlan> reforms;
  for (int n = min; n < used; ++n) {
    ClusterSpec fewer = cluster;
    fewer.ranks = n;
    try {
      reforms.push_back(place_replicas(members, replicas, fewer, options));
    } catch (const InputError& e) {
      throw InputError(
          fmt::format("--nproc {}:{}: the planned members cannot re-form on {} ranks: {}", min,
                      used, n, e.what()));
    }
  }
  return reforms;
}

}  // namespace cohort::cli
