#include "cohort/plan/cost_model.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "cohort/error.h"
#include "cohort/pipeline/partition.h"

namespace cohort {
namespace {

double sum(const std::vector<double>& values, int64_t begin, int64_t end) {
  return std::accumulate(values.begin() + begin, values.begin() + end, 0.0);
}

// A ring allreduce of `bytes` over `n` ranks.
double ring_allreduce_seconds(double bytes, int n, const Link& link) {
  if (n <= 1) return 0;
  return 2.0 * (n - 1) / n * bytes / link.bytes_per_second + 2.0 * (n - 1) * link.latency_seconds;
}

// The root sending to each rank in turn, or a pipelined ring; the faster.
double broadcast_seconds(double bytes, int n, const Link& link) {
  if (n <= 1) return 0;
  const double once = bytes / link.bytes_per_second;
  return std::min((n - 1) * once + link.latency_seconds, once + (n - 1) * link.latency_seconds);
}

double transfer_seconds(double bytes, const Link& link) {
  return bytes / link.bytes_per_second + link.latency_seconds;
}

// One slot of stage s: its layers on `rows` samples.
double slot_seconds(const MemberCost& m, const Partition& cut, int s, double rows) {
  const double calls =
      m.layer_call_seconds.empty() ? 0 : sum(m.layer_call_seconds, cut.begin(s), cut.end(s));
  return calls + sum(m.layer_seconds, cut.begin(s), cut.end(s)) * rows;
}

}  // namespace

void fit_layer_times(const std::vector<double>& large_seconds, double large_rows,
                     const std::vector<double>& small_seconds, double small_rows,
                     MemberCost& member) {
  if (large_seconds.size() != small_seconds.size() || !(large_rows > small_rows) ||
      !(small_rows > 0))
    throw InputError(fmt::format(
        "fit_layer_times needs both batches' times for every layer and {} > {} > 0 rows",
        large_rows, small_rows));
  member.layer_seconds.clear();
  member.layer_call_seconds.clear();
  for (size_t l = 0; l < large_seconds.size(); ++l) {
    double per_sample = (large_seconds[l] - small_seconds[l]) / (large_rows - small_rows);
    double per_call = large_seconds[l] - per_sample * large_rows;
    if (!(per_sample > 0) || per_call < 0) {
      per_sample = large_seconds[l] / large_rows;
      per_call = 0;
    }
    member.layer_seconds.push_back(per_sample);
    member.layer_call_seconds.push_back(per_call);
  }
}

Link link_from_allreduces(int ranks, double small_bytes, double small_seconds, double large_bytes,
                          double large_seconds) {
  if (ranks < 2 || large_bytes <= small_bytes)
    throw InputError(
        fmt::format("a link is measured by a small and a larger allreduce over two "
                    "or more ranks (got {} ranks, {} and {} bytes)",
                    ranks, small_bytes, large_bytes));
  const double hops = 2.0 * (ranks - 1), share = hops / ranks;
  // The small one's bytes cost little, but not nothing: solve the two
  // equations t = share * b / bandwidth + hops * latency together.
  const double per_byte = (large_seconds - small_seconds) / (share * (large_bytes - small_bytes));
  if (!(per_byte > 0))
    throw InputError(fmt::format(
        "the link measurement is inconsistent: {} bytes took {:.3g} s and {} bytes {:.3g} s; "
        "measure again on a quieter machine, or give the link's bandwidth and latency",
        small_bytes, small_seconds, large_bytes, large_seconds));
  Link link;
  link.bytes_per_second = 1.0 / per_byte;
  link.latency_seconds = std::max(0.0, (small_seconds - share * small_bytes * per_byte) / hops);
  return link;
}

double MemberCost::total_parameter_bytes() const {
  return sum(layer_parameter_bytes, 0, static_cast<int64_t>(layer_parameter_bytes.size()));
}

double MemberCost::seconds_per_sample() const {
  return sum(layer_seconds, 0, static_cast<int64_t>(layer_seconds.size()));
}

double MemberCost::inference_seconds_per_sample() const {
  return inference_seconds > 0 ? inference_seconds : seconds_per_sample() / 3;
}

double MemberCost::logit_bytes_per_sample() const {
  return layer_output_bytes.empty() ? 0 : layer_output_bytes.back();
}

double logit_exchange_seconds(const std::vector<MemberCost>& members, const LogitTraffic& traffic,
                              const Link& link) {
  double busiest = 0;
  for (size_t r = 0; r < traffic.sources.size(); ++r) {
    double sent = 0, received = 0;
    for (size_t k = 0; k < members.size(); ++k) {
      sent += double(traffic.sent_rows[r][k]) * members[k].logit_bytes_per_sample();
      received += double(traffic.received_rows[r][k]) * members[k].logit_bytes_per_sample();
    }
    busiest = std::max(busiest, std::max(sent, received) / link.bytes_per_second +
                                    traffic.sources[r] * link.latency_seconds);
  }
  return busiest;
}

double weight_exchange_seconds(const std::vector<MemberCost>& members,
                               const Cooperation& cooperation, int ranks, const Link& link) {
  if (cooperation.kind != Cooperation::Kind::stale_copies || ranks <= 1) return 0;
  double weights = 0;
  for (const MemberCost& m : members)
    weights += broadcast_seconds(m.total_parameter_bytes(), ranks, link);
  return weights / double(std::max<int64_t>(1, cooperation.every));
}

double stale_copy_seconds(const std::vector<MemberCost>& members, const Cooperation& cooperation,
                          double rows, const ClusterSpec& cluster) {
  if (cooperation.kind != Cooperation::Kind::stale_copies || members.size() < 2) return 0;
  double per_sample = 0;
  for (const MemberCost& m : members) per_sample += m.inference_seconds_per_sample();
  return per_sample * rows / cluster.speed;
}

bool layout_valid(const MemberCost& member, const Layout& layout, int64_t global_batch) {
  if (layout.data < 1 || layout.pipeline < 1 || layout.micro_batches < 1) return false;
  if (global_batch % layout.data != 0) return false;
  const int64_t replica_batch = global_batch / layout.data;
  if (layout.pipeline == 1) return layout.micro_batches == 1;
  return layout.pipeline <= static_cast<int64_t>(member.layer_seconds.size()) &&
         replica_batch % layout.micro_batches == 0;
}

StepEstimate estimate_step(const MemberCost& member, const Layout& layout,
                           const ClusterSpec& cluster, const Link& link, int64_t global_batch) {
  const int64_t layers = static_cast<int64_t>(member.layer_seconds.size());
  const double replica_batch = double(global_batch) / layout.data;
  const Partition cut = layout.pipeline == 1 ? Partition{{0, layers}}
                                             : balance_costs(member.layer_seconds, layout.pipeline);
  StepEstimate e;
  const int m = layout.micro_batches, p = layout.pipeline;
  const double micro_batch = replica_batch / m;
  const double held_samples = p == 1 ? replica_batch : std::min(m, p) * micro_batch;
  double slowest_stage = 0, all_stages = 0, widest_cut = 0, largest_stage_gradients = 0;
  for (int s = 0; s < cut.stages(); ++s) {
    const double slot = slot_seconds(member, cut, s, micro_batch);
    slowest_stage = std::max(slowest_stage, slot);
    all_stages += slot;
    if (s + 1 < cut.stages())
      widest_cut = std::max(widest_cut, member.layer_output_bytes.at(cut.end(s) - 1));
    const double params = sum(member.layer_parameter_bytes, cut.begin(s), cut.end(s));
    largest_stage_gradients = std::max(largest_stage_gradients, params);
    const double activations = sum(member.layer_output_bytes, cut.begin(s), cut.end(s));
    e.memory_bytes = std::max(
        e.memory_bytes, params * (2 + member.optimizer_state_factor) + activations * held_samples);
  }
  // The first micro-batch crosses every stage; the slowest stage then takes the
  // other m - 1 one after another (a flow shop of equal jobs): (m + p - 1)
  // slots of the slowest stage where the stages are balanced, less where not.
  const double slots = m + p - 1;
  e.compute_seconds =
      (all_stages + (m - 1) * slowest_stage + member.step_overhead_seconds / p) / cluster.speed;
  if (p > 1)
    e.pipeline_transfer_seconds = 2 * slots * transfer_seconds(widest_cut * micro_batch, link);
  e.allreduce_seconds =
      (1 - cluster.overlap) * ring_allreduce_seconds(largest_stage_gradients, layout.data, link);
  e.step_seconds = e.compute_seconds + e.pipeline_transfer_seconds + e.allreduce_seconds;
  return e;
}

}  // namespace cohort
