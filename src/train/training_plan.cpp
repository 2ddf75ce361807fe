#include <fmt/format.h>

#include "cohort/error.h"
#include "cohort/models.h"
#include "cohort/trainer.h"

namespace cohort {
namespace {

// Parameter servers and local SGD: one network, whole on every rank.
void check_asynchronous_plan(const Config& config, int world_size) {
  const auto& p = config.parallel;
  if (p.pipeline != 1) {
    throw InputError(
        fmt::format("parallel.mode = '{}' replicates whole networks; set "
                    "parallel.pipeline = 1 (pipelines train synchronously)",
                    p.mode));
  }
  if (p.comm_hook != "none") {
    throw InputError(
        fmt::format("parallel.comm_hook = '{}' compresses synchronous gradient "
                    "buckets; parallel.mode = '{}' does not use them: set it to none",
                    p.comm_hook, p.mode));
  }
  if (p.mode == "local-sgd") {
    if (p.servers != 0) {
      throw InputError(
          fmt::format("parallel.servers = {}: local SGD has no servers; set it to 0", p.servers));
    }
    if (world_size != p.data) {
      throw InputError(fmt::format(
          "local SGD with parallel.data = {} needs {} processes, the job has {}: run `cohort "
          "train ... --nproc {}`",
          p.data, p.data, world_size, p.data));
    }
    return;
  }
  if (config.networks.size() != 1 || config.cooperate.method != "none") {
    throw InputError(
        fmt::format("parallel.mode = 'async' trains one network through parameter "
                    "servers; the config has {} [[network]] entries and "
                    "cooperate.method = '{}': keep one network and method 'none'",
                    config.networks.size(), config.cooperate.method));
  }
  if (p.servers < 1) {
    throw InputError(
        "parallel.mode = 'async' needs parameter servers: set parallel.servers = 1 "
        "or more");
  }
  const int64_t needed = p.servers + p.data;
  if (world_size != needed) {
    throw InputError(fmt::format(
        "parallel.servers = {} + parallel.data = {} workers need {} processes, the job has {}: "
        "run `cohort train ... --nproc {}`",
        p.servers, p.data, needed, world_size, needed));
  }
  const auto params = build_model(config.networks[0].model)->parameters();
  if (p.servers > int64_t(params.size())) {
    throw InputError(fmt::format(
        "parallel.servers = {} but the {} model has {} parameter tensors and a server owns whole "
        "tensors: use at most {} servers",
        p.servers, config.networks[0].model.name, params.size(), params.size()));
  }
}

}  // namespace

void check_training_plan(const Config& config, int world_size) {
  const auto& method = config.cooperate.method;
  if (config.cooperate.fused) {
    throw InputError(
        "cooperate.fused = true: fused arrays are a library API (cohort/fused.h) "
        "that cohort train does not use yet; set it to false");
  }
  if (method != "none" && config.networks.size() < 2) {
    throw InputError(
        fmt::format("cooperate.method = '{}' needs at least two [[network]] entries", method));
  }
  const auto& p = config.parallel;
  if (p.mode != "sync") {
    check_asynchronous_plan(config, world_size);
    return;
  }
  if (p.servers != 0) {
    throw InputError(
        fmt::format("parallel.servers = {} is for parallel.mode = 'async'; set it to "
                    "0 or choose async",
                    p.servers));
  }
  const int64_t needed = p.data * p.pipeline;
  if (world_size != needed) {
    throw InputError(
        fmt::format("the layout parallel.data = {} x parallel.pipeline = {} needs {} processes, "
                    "the job has {}: "
                    "run `cohort train ... --nproc {}` (or launch {} ranks)",
                    p.data, p.pipeline, needed, world_size, needed, needed));
  }
  if (p.pipeline == 1) return;
  if (config.networks.size() != 1) {
    throw InputError(fmt::format(
        "parallel.pipeline = {} cuts one network into stages, the config has {} [[network]] "
        "entries: keep one, or set parallel.pipeline = 1 to train a cohort",
        p.pipeline, config.networks.size()));
  }
  if (p.micro_batches > config.train.batch_size) {
    throw InputError(
        fmt::format("parallel.micro_batches = {} is more than train.batch_size = {}: "
                    "every micro-batch needs at least one sample",
                    p.micro_batches, config.train.batch_size));
  }
  const auto& spec = config.networks[0].model;
  const int64_t layers = int64_t(build_model(spec)->size());
  if (p.pipeline > layers) {
    throw InputError(
        fmt::format("parallel.pipeline = {}: the {} model has {} layers and every "
                    "stage needs one; use at most {} stages",
                    p.pipeline, spec.name, layers, layers));
  }
}

}  // namespace cohort
