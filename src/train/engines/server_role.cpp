#include "train/engines/server_role.h"

#include <nlohmann/json.hpp>

#include "cohort/messages.h"
#include "cohort/parameter_server.h"
#include "comm/message_tags.h"
#include "train/process/fault_injection.h"

namespace cohort {

ShardPlan server_shards(const Network& net, int servers) {
  std::vector<int64_t> bytes;
  for (const auto& p : net.parameters) bytes.push_back(p.numel() * int64_t(p.element_size()));
  return plan_shards(bytes, servers);
}

void serve_parameters(const Config& config, const ProcessContext& ctx, const Network& net,
                      TraceRecorder& trace) {
  const ShardPlan plan = server_shards(net, ctx.servers);
  std::vector<at::Tensor> shard;
  for (int p : plan.params_of.at(ctx.server_index)) shard.push_back(net.parameters[p]);
  ServerOptions options;
  for (int w = 0; w < ctx.data_size; ++w) options.workers.push_back(w);
  options.staleness = config.parallel.staleness;
  options.staleness_lr_scaling = config.parallel.staleness_lr_scaling;
  options.server_index = ctx.server_index;
  // For a server, fault injection's "step" counts applied pushes.
  options.after_push = [](int64_t pushes) { fault_point("step", pushes); };
  ParameterServer server(ctx.comm, shard, net.config, options);
  const ServerReport report = server.run(trace);
  const nlohmann::json j = {{"pushes", report.pushes},
                            {"max_lead", report.max_lead},
                            {"lost_workers", report.lost_workers}};
  send_bytes(*ctx.comm, j.dump(), 0, tags::kServerReport);
}

}  // namespace cohort
