#include "train/process/process_context.h"

#include <fmt/format.h>

#include <cstdlib>
#include <map>

#include "cohort/error.h"
#include "cohort/trainer.h"
#include "comm/delayed_communicator.h"
#include "launch/elastic_plan.h"

namespace cohort {

CommunicatorPtr ProcessContext::data_group() const {
  if (data_size == 1) return nullptr;
  return mesh ? mesh->group("data") : comm;
}

CommunicatorPtr ProcessContext::pipeline_group() const {
  return stages > 1 ? mesh->group("pipeline") : nullptr;
}

CommunicatorPtr ProcessContext::tensor_group() const {
  if (tensors == 1) return nullptr;
  return mesh ? mesh->group("tensor") : comm;
}

CommunicatorPtr ProcessContext::network_peers() const {
  if (network_groups == 1) return nullptr;
  return mesh ? mesh->group("network") : comm;
}

PipelineSeat ProcessContext::pipeline_seat() const {
  return {stage,        stages,         data_rank, accumulate, pipeline_group(),
          data_group(), tensor_group(), comm};
}

MeshLayout training_mesh(const ParallelConfig& parallel) {
  return MeshLayout({{"network", int(parallel.network)},
                     {"data", int(parallel.data)},
                     {"pipeline", int(parallel.pipeline)},
                     {"tensor", int(parallel.tensor)}});
}

std::string describe_placement(const MeshLayout& layout) {
  static const char* const kWords[] = {"network", "replica", "stage", "slice"};
  std::string out;
  for (int r = 0; r < layout.size(); ++r) {
    const auto c = layout.coordinate(r);
    out += fmt::format("{}rank {}:", r ? ", " : "", r);
    for (size_t d = 0; d < c.size(); ++d)
      if (layout.dims()[d].size > 1) out += fmt::format(" {} {}", kWords[d], c[d]);
  }
  return out;
}

namespace {

// The planner's placement where an elastic job's launcher gives one for the
// ranks there are (parallel.plan = "auto"), otherwise the config's.
MemberLayouts member_layouts_from_environment(const Config& config, int world_size) {
  const char* planned = std::getenv(kMemberRanksVariable);
  if (planned && *planned)
    return place_members_as(config, world_size, planned, kMemberRanksVariable);
  return place_members(config, world_size);
}

// An elastic job's launcher re-formed it on fewer ranks than parallel.data
// (cohort train --nproc MIN:MAX), or torchrun --nnodes MIN:MAX did on the hosts
// left: each rank plays this many replicas.
int replicas_per_rank_from_environment(const Config& config, const WorldInfo& world) {
  // Members with their own layouts re-form by being placed again over the ranks
  // there are, each keeping its replicas: none plays several.
  if (uses_member_layouts(config)) return 1;
  const auto& p = config.parallel;
  const char* ranks = std::getenv(kElasticRanksVariable);
  if (ranks && *ranks) {
    int count = 0;
    try {
      count = std::stoi(ranks);
    } catch (const std::exception&) {
      throw InputError(
          fmt::format("{}='{}' is not a number of ranks", kElasticRanksVariable, ranks));
    }
    return replicas_per_rank(int(p.data), count, int(p.pipeline * p.tensor));
  }
  const int full = training_mesh(p).size();
  if (world.source != "torchrun" || p.mode != "sync" || world.world_size >= full) return 1;
  try {
    return replicas_per_rank(int(p.data), world.world_size, int(p.pipeline * p.tensor));
  } catch (const InputError&) {
    throw InputError(fmt::format(
        "torchrun started {} ranks, which cannot share parallel.data = {} replicas of "
        "parallel.pipeline x parallel.tensor = {} rank(s) each evenly: start a number of ranks "
        "that does (an elastic torchrun --nnodes MIN:MAX job re-forms on the hosts left)",
        world.world_size, p.data, p.pipeline * p.tensor));
  }
}

// Every rank creates every member's groups, in member order (c10d's rule for
// sub-groups); groups of the same ranks are made once and shared. A member's
// group holds all its ranks (its replicas', or every stage of its pipelines);
// a pipelined member has besides one group per replica (its stages, in stage
// order) and, with several replicas, one per stage (its replicas).
class MemberGroups {
 public:
  MemberGroups(const MemberLayouts& layouts, CommunicatorPtr world, int rank)
      : layouts_(layouts), world_(std::move(world)), rank_(rank) {}

  void make(ProcessContext& ctx) {
    ctx.member_groups.resize(layouts_.members());
    ctx.member_pipelines.resize(layouts_.members());
    for (size_t k = 0; k < layouts_.members(); ++k) {
      const bool alone = layouts_.ranks(k).size() == 1;
      if (!alone) ctx.member_groups[k] = group(layouts_.ranks(k), fmt::format("member {}", k));
      if (layouts_.pipelined(k)) ctx.member_pipelines[k] = seat(k, ctx.member_groups[k]);
    }
  }

 private:
  CommunicatorPtr group(const std::vector<int>& ranks, const std::string& name) {
    auto [it, fresh] = made_.try_emplace(ranks);
    if (fresh) it->second = world_->new_group(ranks, name);
    return it->second;
  }

  std::optional<PipelineSeat> seat(size_t k, const CommunicatorPtr& network) {
    const std::vector<int>& ranks = layouts_.ranks(k);
    const int stages = layouts_.stages(k), replicas = layouts_.replicas(k);
    PipelineSeat seat{layouts_.stage_on(k, rank_),
                      stages,
                      layouts_.replica_on(k, rank_),
                      1,
                      nullptr,
                      nullptr,
                      nullptr,
                      network};
    for (int d = 0; d < replicas; ++d) {
      const auto first = ranks.begin() + d * stages;
      auto made = group({first, first + stages}, fmt::format("member {} pipeline {}", k, d));
      if (d == seat.replica) seat.pipeline = made;
    }
    for (int s = 0; s < stages && replicas > 1; ++s) {
      std::vector<int> same_stage;
      for (int d = 0; d < replicas; ++d) same_stage.push_back(ranks[size_t(d * stages + s)]);
      auto made = group(same_stage, fmt::format("member {} stage {}", k, s));
      if (s == seat.stage) seat.replicas = made;
    }
    if (seat.stage < 0) return std::nullopt;
    return seat;
  }

  const MemberLayouts& layouts_;
  CommunicatorPtr world_;
  int rank_;
  std::map<std::vector<int>, CommunicatorPtr> made_;
};

}  // namespace

ProcessContext join_job(const Config& config) {
  ProcessContext ctx;
  ctx.world = world_info_from_environment();
  ctx.accumulate = replicas_per_rank_from_environment(config, ctx.world);
  // The layout is the config's, whose replicas the ranks share.
  check_training_plan(config, ctx.world.world_size * ctx.accumulate);
  ParallelConfig p = config.parallel;
  p.data /= ctx.accumulate;
#ifdef COHORT_WITH_CUDA
  constexpr bool cuda_compiled = true;
#else
  constexpr bool cuda_compiled = false;
#endif
  ctx.placement = choose_placement(config.train.device, config.train.precision, cuda_compiled,
                                   visible_gpus(), ctx.world.local_rank);
  // CUDA tensors travel through NCCL, beside Gloo for the CPU ones (comm/).
  const Backend backend = ctx.placement.cuda() ? Backend::Nccl : Backend::Gloo;
  const auto timeout = std::chrono::milliseconds(int64_t(p.timeout_seconds * 1000));
  if (p.mode == "async") {
    if (ctx.placement.cuda())
      throw InputError(
          "parallel.mode = 'async' runs on the CPU only: its servers receive from any worker, "
          "which NCCL cannot do; set train.device = 'cpu'");
    ctx.data_size = int(p.data);
    ctx.servers = int(p.servers);
    if (ctx.world.rank < ctx.data_size) {
      ctx.data_rank = ctx.world.rank;
    } else {
      ctx.server_index = ctx.world.rank - ctx.data_size;
    }
    ctx.comm = delayed_from_environment(meet_world(ctx.world, timeout, backend), ctx.world.rank);
    return ctx;
  }
  if (uses_member_layouts(config)) {
    ctx.members = std::make_shared<const MemberLayouts>(
        member_layouts_from_environment(config, ctx.world.world_size));
    if (ctx.world.world_size > 1) {
      ctx.comm = delayed_from_environment(meet_world(ctx.world, timeout, backend), ctx.world.rank);
      MemberGroups(*ctx.members, ctx.comm, ctx.world.rank).make(ctx);
    } else {
      ctx.member_groups.resize(config.networks.size());
      ctx.member_pipelines.resize(config.networks.size());
    }
    return ctx;
  }
  const MeshLayout layout = training_mesh(p);
  const auto coordinate = layout.coordinate(ctx.world.rank);
  ctx.network_group = coordinate[0];
  ctx.network_groups = int(p.network);
  ctx.data_rank = coordinate[1];
  ctx.data_size = int(p.data);
  ctx.stage = coordinate[2];
  ctx.stages = int(p.pipeline);
  ctx.tensor_rank = coordinate[3];
  ctx.tensors = int(p.tensor);
  if (layout.size() > 1) {
    ctx.comm = delayed_from_environment(meet_world(ctx.world, timeout, backend), ctx.world.rank);
    // Sub-groups only where a dimension has several ranks; a lone dimension
    // other than the pipeline is the world itself.
    std::vector<MeshDim> dims;
    for (const auto& d : layout.dims())
      if (d.size > 1) dims.push_back(d);
    if (dims.size() > 1 || p.pipeline > 1)
      ctx.mesh = std::make_shared<DeviceMesh>(MeshLayout(dims), ctx.comm);
  }
  return ctx;
}

}  // namespace cohort
