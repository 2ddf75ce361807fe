// Which parameter server owns which parameter: whole tensors, balanced by bytes,
// so each server receives about the same traffic. Pure; unit tested.
#pragma once

#include <cstdint>
#include <vector>

namespace cohort {

struct ShardPlan {
  // params_of[s]: the parameters (indices into the model's parameter list) that
  // server s owns, in registration order.
  std::vector<std::vector<int>> params_of;
  std::vector<int64_t> bytes_of;  // bytes owned by each server
  std::vector<int> server_of;     // server_of[p]: the owner of parameter p

  int servers() const { return int(params_of.size()); }
};

// Largest tensors first, each to the server with the fewest bytes so far (the
// classic LPT rule: within 4/3 of the best balance). InputError when there are
// more servers than parameters: a server with nothing to own is a mistake.
ShardPlan plan_shards(const std::vector<int64_t>& parameter_bytes, int servers);

}  // namespace cohort
