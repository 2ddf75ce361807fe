#include <fmt/format.h>

#include "cohort/error.h"
#include "cohort/models.h"
#include "cohort/trainer.h"

namespace cohort {

void check_training_plan(const Config& config, int world_size) {
  const auto& method = config.cooperate.method;
  if (config.cooperate.fused) {
    throw InputError("cooperate.fused = true: fused arrays are a library API (cohort/fused.h) "
                     "that cohort train does not use yet; set it to false");
  }
  if (method != "none" && config.networks.size() < 2) {
    throw InputError(fmt::format("cooperate.method = '{}' needs at least two [[network]] entries",
                                 method));
  }
  const auto& p = config.parallel;
  if (p.mode != "sync") {
    throw InputError(fmt::format("parallel.mode = '{}' is not available in cohort train yet; use "
                                 "sync", p.mode));
  }
  const int64_t needed = p.data * p.pipeline;
  if (world_size != needed) {
    throw InputError(fmt::format(
        "the layout parallel.data = {} x parallel.pipeline = {} needs {} processes, the job has {}: "
        "run `cohort train ... --nproc {}` (or launch {} ranks)", p.data, p.pipeline, needed,
        world_size, needed, needed));
  }
  if (p.pipeline == 1) return;
  if (config.networks.size() != 1) {
    throw InputError(fmt::format(
        "parallel.pipeline = {} cuts one network into stages, the config has {} [[network]] "
        "entries: keep one, or set parallel.pipeline = 1 to train a cohort", p.pipeline,
        config.networks.size()));
  }
  if (p.micro_batches > config.train.batch_size) {
    throw InputError(fmt::format("parallel.micro_batches = {} is more than train.batch_size = {}: "
                                 "every micro-batch needs at least one sample",
                                 p.micro_batches, config.train.batch_size));
  }
  const auto& spec = config.networks[0].model;
  const int64_t layers = int64_t(build_model(spec)->size());
  if (p.pipeline > layers) {
    throw InputError(fmt::format("parallel.pipeline = {}: the {} model has {} layers and every "
                                 "stage needs one; use at most {} stages", p.pipeline, spec.name,
                                 layers, layers));
  }
}

}  // namespace cohort
