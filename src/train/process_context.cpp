#include "train/process_context.h"

#include <fmt/format.h>

#include "cohort/error.h"
#include "cohort/trainer.h"
#include "comm/delayed_communicator.h"

namespace cohort {

CommunicatorPtr ProcessContext::data_group() const {
  if (data_size == 1) return nullptr;
  return mesh ? mesh->group("data") : comm;
}

CommunicatorPtr ProcessContext::pipeline_group() const {
  return stages > 1 ? mesh->group("pipeline") : nullptr;
}

MeshLayout training_mesh(const ParallelConfig& parallel) {
  return MeshLayout({{"data", int(parallel.data)}, {"pipeline", int(parallel.pipeline)}});
}

std::string describe_placement(const MeshLayout& layout) {
  std::string out;
  for (int r = 0; r < layout.size(); ++r) {
    const auto c = layout.coordinate(r);
    out += fmt::format("{}rank {}: replica {} stage {}", r ? ", " : "", r, c[0], c[1]);
  }
  return out;
}

ProcessContext join_job(const Config& config) {
  ProcessContext ctx;
  ctx.world = world_info_from_environment();
  check_training_plan(config, ctx.world.world_size);
  const auto& p = config.parallel;
  const auto timeout = std::chrono::milliseconds(int64_t(p.timeout_seconds * 1000));
  if (p.mode == "async") {
    ctx.data_size = int(p.data);
    ctx.servers = int(p.servers);
    if (ctx.world.rank < ctx.data_size) {
      ctx.data_rank = ctx.world.rank;
    } else {
      ctx.server_index = ctx.world.rank - ctx.data_size;
    }
    ctx.comm = delayed_from_environment(init_world(ctx.world, timeout), ctx.world.rank);
    return ctx;
  }
  const int64_t needed = p.data * p.pipeline;
  const MeshLayout layout = training_mesh(p);
  const auto coordinate = layout.coordinate(ctx.world.rank);
  ctx.data_rank = coordinate[0];
  ctx.data_size = int(p.data);
  ctx.stage = coordinate[1];
  ctx.stages = int(p.pipeline);
  if (needed > 1) {
    ctx.comm = delayed_from_environment(init_world(ctx.world, timeout), ctx.world.rank);
    if (p.pipeline > 1) ctx.mesh = std::make_shared<DeviceMesh>(layout, ctx.comm);
  }
  return ctx;
}

}  // namespace cohort
