// Whole networks: K networks (one for a plain run) see the same batch, each
// minimises its objective (cross-entropy, plus a peer term for mutual learning
// and codistillation), PBT exploits and explores between steps, and with several
// replicas each network's gradients are averaged by DDP while backward runs, or,
// in local SGD, each rank steps alone and the replicas are averaged every H
// steps. A rank of an elastic job re-formed on fewer ranks plays several
// replicas in turn. With parallel.network = G each rank trains only its group's share of
// the networks and exchanges with the other groups what the method needs
// (network_groups.h); with members' own layouts each rank trains the members
// placed on it, each on its replica's rows of the global batch
// (member_exchange.h), and a pipelined member's stages run between the
// others' forwards and their losses (member_pipelines.h). With parallel.shard
// the replicas split each network's
// optimiser state (and gradients, and parameters) instead (cohort/zero.h); the
// state is gathered whole into the network's own optimiser only for
// checkpoints, and stage 3's parameters only for evaluation, checkpoints and
// codistillation's copies. With parallel.tensor each rank trains its slices of
// every network's layers (tensor_network.h), DDP averaging each slice among the
// replicas; the whole networks take the slices' weights (and state) at the same
// moments.
#pragma once

#include <memory>
#include <optional>
#include <vector>

#include "cohort/config.h"
#include "cohort/ddp.h"
#include "cohort/local_sgd.h"
#include "cohort/metrics.h"
#include "cohort/zero.h"
#include "train/cohort/member_exchange.h"
#include "train/cohort/network_exchange.h"
#include "train/cohort/objective.h"
#include "train/cohort/population.h"
#include "train/engines/member_pipelines.h"
#include "train/engines/step_engine.h"
#include "train/engines/tensor_network.h"
#include "train/networks/network.h"
#include "train/process/process_context.h"

namespace cohort {

class ReplicaEngine : public StepEngine {
 public:
  // `nets` must already hold their restored state: DDP broadcasts rank 0's weights here.
  // `batch_rows`: the rows of every batch step() is given. `sample`: inputs for
  // the partition of pipelined members (unused without them).
  ReplicaEngine(const Config& config, const ProcessContext& ctx, std::vector<Network>& nets,
                MetricsLog& metrics, int64_t batch_rows, const at::Tensor& sample = {});
  // Stage 3's networks are left whole: the caller may use them after training.
  ~ReplicaEngine() override;

  StepOutcome step(const Batch& batch, int64_t step, int64_t total_steps) override;
  // Local SGD: averages the replicas, so what is evaluated and saved is their
  // consensus. Otherwise the replicas are identical already.
  void gather_networks() override;
  // PBT's interval so far: its losses, and how many steps it has run.
  std::string checkpoint_state() const override;
  void restore_checkpoint_state(const std::string& json) override;
  // Network groups, local SGD and sharded state gather collectively, so every
  // rank must know when the leader saves.
  bool agree(bool leader_decision) override;
  // The bytes each of this rank's networks holds (summary.json's memory);
  // stage 3's parameters are gathered whole for the evaluation that follows.
  void finish(RunSummary& summary) override;

 private:
  std::vector<Network>& nets_;
  MetricsLog& metrics_;
  Objective objective_;
  PopulationSchedule population_;
  // Where the networks train: network groups on the mesh, or members' own layouts.
  std::unique_ptr<NetworkExchange> exchange_;
  // With members' own layouts: exchange_ as such (null otherwise), and, where
  // some member is pipelined, the stages of them this rank holds.
  MemberExchange* member_exchange_ = nullptr;
  std::unique_ptr<MemberPipelines> pipelines_;
  std::vector<bool> pipelined_;  // per member
  at::Tensor logits_like_;       // the dtype and row shape of the members' logits
  // Per network; null for networks trained on other ranks, or with one replica.
  std::vector<std::unique_ptr<DistributedDataParallel>> replicas_;
  // Instead of replicas_ with parallel.shard: per network, null as above.
  std::vector<std::unique_ptr<ShardedDataParallel>> sharded_;
  // With parallel.tensor: per network, its tensor-parallel form; null otherwise.
  std::vector<std::unique_ptr<TensorNetwork>> tensor_;
  // Per network: what its forward left held on the metered step (bytes).
  std::vector<int64_t> activations_;
  // Stage 3: the whole parameters, held from gather_networks() to the next step.
  std::vector<ShardedDataParallel::WholeParameters> whole_parameters_;
  // gather_networks() filled the networks' whole optimisers; the next step empties them.
  bool whole_state_gathered_ = false;
  bool memory_recorded_ = false;
  CommunicatorPtr world_;
  bool member_layouts_ = false;
  std::optional<LocalSgdSchedule> local_sgd_;
  int64_t replicas_played_ = 1;  // ProcessContext::accumulate
  void average_replicas(int64_t step);
  // Every pipelined member's step this rank has a stage of: into `outcome`,
  // and the last stages' predictions into `logits`. With mutual learning each
  // micro-batch's loss takes the other members' `peers`, and the pipelines'
  // predictions then go to where the others' losses need them (into `peers`).
  void step_pipelines(const Batch& batch, int64_t step, int64_t total_steps,
                      std::vector<at::Tensor>& logits, std::vector<at::Tensor>& peers,
                      StepOutcome& outcome);
  // Member k's loss on the micro-batch of its replica's rows from `first_row`.
  at::Tensor pipelined_loss(size_t k, int64_t step, const Batch& batch,
                            const std::vector<at::Tensor>& peers, const at::Tensor& output,
                            const at::Tensor& targets, int64_t first_row);
  const at::Tensor& logits_like(const at::Tensor& inputs);
  std::vector<bool> not_pipelined() const;
  // Each owned network's loss on the rows it trains on.
  std::vector<at::Tensor> owned_losses(int64_t step, const Batch& batch,
                                       const std::vector<at::Tensor>& logits,
                                       const std::vector<at::Tensor>& peers);
  // Whether network k has replicas on other ranks that average with it.
  bool replicated(size_t k) const;
  // An elastic job re-formed on fewer ranks: the step of every replica this
  // rank plays, their gradients accumulated before they are averaged.
  StepOutcome step_playing_replicas(const Batch& batch, int64_t step, int64_t total_steps);
  // The module whose forward trains network k: its tensor-parallel form or itself.
  std::shared_ptr<torch::nn::Module> trained_module(size_t k) const;
  void train_network(size_t k, const at::Tensor& loss, int64_t step, int64_t total_steps);
  // Network k's learning rate for this step, and its gradients zeroed.
  void begin_update(size_t k, int64_t step, int64_t total_steps);
  // `average`: DDP averages the gradients during this backward.
  void backward(size_t k, const at::Tensor& loss, bool average);
  // After network k's backwards: averages its gradients (sharded: reduces
  // them; DDP: waits for them when `averaged`), clips them and steps.
  void apply_update(size_t k, int64_t step, bool averaged);
  // Network k's logits: through its ShardedDataParallel when it has one
  // (stage 3 gathers the parameters layer by layer).
  at::Tensor forward(size_t k, const at::Tensor& inputs);
  at::Tensor metered_forward(size_t k, const at::Tensor& inputs);
  // Stage 3: the owned networks' whole parameters while the result lives.
  std::vector<ShardedDataParallel::WholeParameters> gather_whole_parameters();
  void release_gathered_state();
  std::vector<NetworkMemory> memory() const;
  void record_memory(int64_t step);
};

}  // namespace cohort
