#include <fmt/format.h>

#include "cohort/error.h"
#include "cohort/fused.h"
#include "cohort/member_layout.h"
#include "cohort/models.h"
#include "cohort/tensor_parallel.h"
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
    const int64_t needed = p.network * p.data;
    if (world_size != needed) {
      throw InputError(fmt::format(
          "local SGD with parallel.network = {} x parallel.data = {} needs {} processes, the "
          "job has {}: train with --nproc {} (or launch {} ranks)",
          p.network, p.data, needed, world_size, needed, needed));
    }
    return;
  }
  if (p.network != 1) {
    throw InputError(
        fmt::format("parallel.network = {}: parameter servers train one network; "
                    "set parallel.network = 1",
                    p.network));
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
        "train with --nproc {} (or launch {} ranks)",
        p.servers, p.data, needed, world_size, needed, needed));
  }
  const auto params = build_model(config.networks[0].model)->parameters();
  if (p.servers > int64_t(params.size())) {
    throw InputError(fmt::format(
        "parallel.servers = {} but the {} model has {} parameter tensors and a server owns whole "
        "tensors: use at most {} servers",
        p.servers, config.networks[0].model.name, params.size(), params.size()));
  }
}

// The network dimension: G groups, each training K/G of the networks.
void check_network_groups(const Config& config) {
  const auto& p = config.parallel;
  const size_t k = config.networks.size();
  if (p.network == 1) return;
  if (k % size_t(p.network) != 0) {
    throw InputError(fmt::format(
        "parallel.network = {} splits the ranks into {} groups that each train the same number "
        "of networks, but the config has {} [[network]] entries: use a divisor of {}",
        p.network, p.network, k, k));
  }
  if (p.pipeline != 1) {
    throw InputError(fmt::format(
        "parallel.network = {} with parallel.pipeline = {}: a pipeline trains one network; "
        "set one of them to 1",
        p.network, p.pipeline));
  }
  if (config.cooperate.fused) {
    throw InputError(
        fmt::format("parallel.network = {} with cooperate.fused = true: a fused array lives "
                    "in one process; set parallel.network = 1",
                    p.network));
  }
}

// Fused arrays batch K copies of one architecture into one model with one
// SGD whose only per-copy setting is the learning rate (cohort/fused.h).
void check_fused_plan(const Config& config) {
  const auto& nets = config.networks;
  const auto& c = config.cooperate;
  if (nets.size() < 2) {
    throw InputError(
        "cooperate.fused = true batches several copies of one network: add "
        "[[network]] entries (same model, other seeds or learning rates)");
  }
  if (c.method != "none" && c.method != "ensemble" && c.method != "mutual") {
    throw InputError(fmt::format(
        "cooperate.fused = true trains the copies as one model, which cooperate.method = '{}' "
        "cannot act on (it needs each network's own weights during training): use none, "
        "ensemble or mutual, or set cooperate.fused = false",
        c.method));
  }
  if (config.parallel.mode != "sync" || config.parallel.pipeline != 1) {
    throw InputError(
        "cooperate.fused = true runs in one process or with synchronous data "
        "parallelism: set parallel.mode = 'sync' and parallel.pipeline = 1");
  }
  const NetworkConfig& a = nets[0];
  for (size_t k = 0; k < nets.size(); ++k) {
    const NetworkConfig& b = nets[k];
    if (b.model.name != a.model.name || b.model.widths != a.model.widths ||
        b.model.channels != a.model.channels) {
      throw InputError(fmt::format(
          "cooperate.fused = true needs one architecture: network {} ('{}') is a different "
          "model from network 0 ('{}'); make them the same or set cooperate.fused = false",
          k, b.name, a.name));
    }
    if (b.optimizer != "sgd") {
      throw InputError(
          fmt::format("cooperate.fused = true trains with SGD: network {} ('{}') "
                      "asks for optimizer '{}'; set it to sgd",
                      k, b.name, b.optimizer));
    }
    if (b.momentum != a.momentum || b.nesterov != a.nesterov || b.weight_decay != a.weight_decay) {
      throw InputError(fmt::format(
          "cooperate.fused = true shares momentum, nesterov and weight_decay between copies "
          "(only lr, its schedule, grad_clip and seed may differ): network {} ('{}') differs "
          "from network 0",
          k, b.name));
    }
  }
  FusedArray{std::vector<torch::nn::Sequential>{build_model(a.model)}};  // InputError: layer
}

// Control networks (network.N.cooperate = false) stand beside a cohort of at
// least two networks that do cooperate.
void check_controls(const Config& config) {
  const auto& method = config.cooperate.method;
  size_t cooperating = 0;
  for (const auto& n : config.networks) cooperating += n.cooperate ? 1 : 0;
  if (cooperating == config.networks.size()) return;
  if (method == "pbt") {
    throw InputError(
        "cooperate.method = 'pbt' replaces the worst networks with copies of the best, so no "
        "network trains alone: remove network.N.cooperate = false");
  }
  if (cooperating < 2) {
    throw InputError(fmt::format(
        "network.N.cooperate = false leaves {} of the {} networks to cooperate: a cohort needs "
        "at least two besides its controls",
        cooperating, config.networks.size()));
  }
}

// Sharded data parallelism (cohort/zero.h) splits each network's optimiser
// state among its synchronous replicas, whole networks on every rank.
void check_sharded_plan(const Config& config) {
  const auto& p = config.parallel;
  if (p.shard == 0) return;
  if (p.mode != "sync")
    throw InputError(fmt::format(
        "parallel.shard = {} splits synchronous replicas' optimiser state; parallel.mode = '{}' "
        "has none to split: set parallel.shard = 0 or parallel.mode = 'sync'",
        p.shard, p.mode));
  // A stage's layers run their own forward between the schedule's messages:
  // stage 3 would have to gather each unit there, which is not built.
  if (p.pipeline != 1 && p.shard == 3)
    throw InputError(fmt::format(
        "parallel.shard = 3 with parallel.pipeline = {}: pipeline stages shard their optimiser "
        "state and gradients (parallel.shard = 1 or 2), not their parameters; set "
        "parallel.shard = 2",
        p.pipeline));
  if (p.pipeline != 1 && p.tensor != 1)
    throw InputError(fmt::format(
        "parallel.shard = {} with parallel.pipeline = {} and parallel.tensor = {}: sharding "
        "split pipeline stages is not built; drop one of the three",
        p.shard, p.pipeline, p.tensor));
  if (config.cooperate.fused)
    throw InputError(
        "parallel.shard with cooperate.fused = true: a fused array is one model in one process; "
        "set parallel.shard = 0");
  if (config.cooperate.method == "pbt")
    throw InputError(
        "parallel.shard with cooperate.method = 'pbt': PBT copies whole optimiser states between "
        "networks, which sharded ones are not; set parallel.shard = 0");
  if (p.comm_hook == "powersgd")
    throw InputError(fmt::format(
        "parallel.comm_hook = 'powersgd' keeps a whole gradient of error feedback on every "
        "rank, which parallel.shard = {} exists to avoid: use 'fp16' or 'bf16', or "
        "parallel.shard = 0",
        p.shard));
}

// Pipelined members beside others (train/engines/member_pipelines.h): what
// their steps can take part in.
void check_pipelined_members(const Config& config) {
  const auto& method = config.cooperate.method;
  int pipelined = 0;
  for (size_t k = 0; k < config.networks.size(); ++k) {
    const NetworkConfig& n = config.networks[k];
    if (n.pipeline <= 1) continue;
    ++pipelined;
    const std::string member = fmt::format("network.{} ('{}')", k, n.name);
    if (method == "pbt")
      throw InputError(fmt::format(
          "{}: pipeline = {} with cooperate.method = 'pbt' is not built (an exploit copies whole "
          "optimiser states, which a pipeline's stages hold in parts); set its pipeline = 1",
          member, n.pipeline));
    if (config.parallel.shard > 0)
      throw InputError(fmt::format(
          "{}: pipeline = {} with parallel.shard = {}: sharding beside pipelined members is not "
          "built; set parallel.shard = 0, or its pipeline = 1",
          member, n.pipeline, config.parallel.shard));
    const int64_t layers = int64_t(build_model(n.model)->size());
    if (n.pipeline > layers)
      throw InputError(fmt::format(
          "{}: pipeline = {}: its {} model has {} layers and every stage needs one; use at most "
          "{} stages",
          member, n.pipeline, n.model.name, layers, layers));
  }
  // Each pipeline's loss needs the others' predictions before its step, and
  // gives its own only after: two pipelines would wait for each other.
  if (method == "mutual" && pipelined > 1)
    throw InputError(fmt::format(
        "cooperate.method = 'mutual' with {} pipelined members: each one's loss needs the "
        "other's predictions before its pipeline runs; pipeline at most one member (pipeline = "
        "1 for the others), or use 'ensemble' or 'none'",
        pipelined));
}

// Members with their own layouts (cohort/member_layout.h) replace the shared
// mesh: synchronous replicas of whole networks or of pipelines, placed on the
// world's ranks.
void check_member_layouts(const Config& config, int world_size) {
  const auto& p = config.parallel;
  if (p.mode != "sync")
    throw InputError(fmt::format(
        "[[network]] data, pipeline or ranks give members their own synchronous replicas; "
        "parallel.mode = '{}' is not built for them: set parallel.mode = 'sync'",
        p.mode));
  if (p.network != 1 || p.pipeline != 1 || p.tensor != 1)
    throw InputError(fmt::format(
        "[[network]] data, pipeline or ranks place every member themselves; parallel.network = "
        "{}, parallel.pipeline = {} and parallel.tensor = {} would place them too: set them to 1",
        p.network, p.pipeline, p.tensor));
  if (config.cooperate.fused)
    throw InputError(
        "[[network]] data, pipeline or ranks place members on their own ranks, but "
        "cooperate.fused = true trains them as one model: remove one of the two");
  check_pipelined_members(config);
  place_members(config, world_size);
}

// Tensor parallelism (cohort/tensor_parallel.h) splits each network's layers
// among `tensor` ranks in synchronous training of whole networks.
void check_tensor_plan(const Config& config) {
  const auto& p = config.parallel;
  if (p.tensor == 1) return;
  const bool supported =
      p.mode == "sync" && !config.cooperate.fused && config.cooperate.method != "pbt";
  if (!supported)
    throw InputError(fmt::format(
        "parallel.tensor = {} runs with synchronous data, sharded and pipeline parallelism and "
        "network groups only (not with fused arrays or PBT): set parallel.mode = 'sync' and "
        "cooperate.method other than 'pbt', or parallel.tensor = 1",
        p.tensor));
  for (size_t k = 0; k < config.networks.size(); ++k) {
    const NetworkConfig& n = config.networks[k];
    try {
      tp::plan_parallel_form(build_model(n.model), int(p.tensor));
    } catch (const InputError& e) {
      throw InputError(fmt::format("network.{} ('{}'): {}", k, n.name, e.what()));
    }
  }
}

}  // namespace

void check_training_plan(const Config& config, int world_size) {
  const auto& method = config.cooperate.method;
  if (config.cooperate.fused) check_fused_plan(config);
  if (method != "none" && config.networks.size() < 2) {
    throw InputError(
        fmt::format("cooperate.method = '{}' needs at least two [[network]] entries", method));
  }
  check_controls(config);
  if (uses_member_layouts(config)) {
    check_member_layouts(config, world_size);
    check_sharded_plan(config);
    return;
  }
  check_network_groups(config);
  check_sharded_plan(config);
  check_tensor_plan(config);
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
  const int64_t needed = p.network * p.data * p.pipeline * p.tensor;
  if (world_size != needed) {
    const std::string tensor =
        p.tensor > 1 ? fmt::format(" x parallel.tensor = {}", p.tensor) : std::string();
    throw InputError(fmt::format(
        "the layout parallel.network = {} x parallel.data = {} x parallel.pipeline = {}{} needs "
        "{} processes, the job has {}: train with --nproc {} (or launch {} ranks)",
        p.network, p.data, p.pipeline, tensor, needed, world_size, needed, needed));
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
