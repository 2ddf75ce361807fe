#include "cohort/async/shard_plan.h"

#include <fmt/format.h>

#include <algorithm>
#include <numeric>

#include "cohort/error.h"

namespace cohort {

ShardPlan plan_shards(const std::vector<int64_t>& parameter_bytes, int servers) {
  if (servers < 1) throw InputError(fmt::format("need at least one server, got {}", servers));
  const int params = int(parameter_bytes.size());
  if (servers > params) {
    throw InputError(fmt::format(
        "parallel.servers = {} but the model has only {} parameter tensors and a server owns "
        "whole tensors: use at most {} servers",
        servers, params, params));
  }
  std::vector<int> order(params);
  std::iota(order.begin(), order.end(), 0);
  // Stable, so equal sizes keep registration order and every rank plans alike.
  std::stable_sort(order.begin(), order.end(),
                   [&](int a, int b) { return parameter_bytes[a] > parameter_bytes[b]; });
  ShardPlan plan;
  plan.params_of.resize(servers);
  plan.bytes_of.assign(servers, 0);
  plan.server_of.assign(params, 0);
  for (int p : order) {
    const int s =
        int(std::min_element(plan.bytes_of.begin(), plan.bytes_of.end()) - plan.bytes_of.begin());
    plan.server_of[p] = s;
    plan.bytes_of[s] += parameter_bytes[p];
  }
  for (int p = 0; p < params; ++p) plan.params_of[plan.server_of[p]].push_back(p);
  return plan;
}

}  // namespace cohort
