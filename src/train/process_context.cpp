#include "train/process_context.h"

#include <fmt/format.h>

#include "cohort/error.h"

namespace cohort {

ProcessContext join_job(const Config& config) {
  ProcessContext ctx;
  ctx.world = world_info_from_environment();
  const auto& p = config.parallel;
  if (p.mode != "sync") {
    throw InputError(fmt::format("parallel.mode = '{}' is not available in cohort train yet; use "
                                 "sync", p.mode));
  }
  if (p.pipeline != 1) {
    throw InputError(fmt::format("parallel.pipeline = {} is not available in cohort train yet; "
                                 "the pipeline executor is a library API (cohort/pipeline.h)",
                                 p.pipeline));
  }
  const int64_t needed = p.data * p.pipeline;
  if (ctx.world.world_size != needed) {
    throw InputError(fmt::format(
        "the layout parallel.data = {} x parallel.pipeline = {} needs {} processes, the job has {}: "
        "run `cohort train ... --nproc {}` (or launch {} ranks)", p.data, p.pipeline, needed,
        ctx.world.world_size, needed, needed));
  }
  if (needed > 1) {
    const auto timeout = std::chrono::milliseconds(int64_t(p.timeout_seconds * 1000));
    ctx.comm = init_world(ctx.world, timeout);
  }
  return ctx;
}

}  // namespace cohort
