// Where this process stands in the job: its rank, its place on the data x
// pipeline mesh or among workers and servers, the groups it talks through, and whether it is the
// one that writes files and prints.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "cohort/comm.h"
#include "cohort/config.h"
#include "cohort/device.h"
#include "cohort/member_layout.h"
#include "cohort/mesh.h"
#include "cohort/rendezvous.h"

namespace cohort {

// Where this rank sits in one pipelined network: the shared mesh's pipeline
// (ProcessContext::pipeline_seat) or a pipelined member's own.
struct PipelineSeat {
  int stage = 0, stages = 1;
  int replica = 0;           // which replica's pipeline it belongs to
  int accumulate = 1;        // replicas it plays (ProcessContext::accumulate)
  CommunicatorPtr pipeline;  // this replica's stages, its rank s holding stage s
  CommunicatorPtr replicas;  // this stage in every replica; null with one replica
  CommunicatorPtr slices;    // this stage's tensor slices; null with one
  // Every rank training the network: they agree on its partition.
  CommunicatorPtr network;
};

struct ProcessContext {
  WorldInfo world;
  Placement placement;   // where this rank computes (train.device, train.precision)
  CommunicatorPtr comm;  // the world group; null when the job is one process
  // network x data x pipeline, over the dimensions larger than one; null unless
  // two of them are, or the pipeline is.
  std::shared_ptr<DeviceMesh> mesh;
  int network_group = 0, network_groups = 1;  // which networks it trains (network_groups.h)
  int data_rank = 0, data_size = 1;           // which replica this rank belongs to, of how many
  // Replicas of the config each rank plays in turn: 1, or more in an elastic
  // job re-formed on fewer ranks (launch/elastic_plan.h). data_size counts ranks.
  int accumulate = 1;
  int stage = 0, stages = 1;  // which pipeline stage it holds, of how many
  int tensor_rank = 0, tensors = 1;  // its slice of each layer (tensor parallelism), of how many
  // Parameter servers (parallel.mode = "async") follow the workers: ranks
  // data_size .. data_size + servers - 1.
  int servers = 0;
  int server_index = -1;  // this rank's server, or -1 for a worker

  // Members with their own layouts (cohort/member_layout.h): each member's
  // ranks, and per member the group of its replicas (null where this rank does
  // not train it, or it has one replica). Null otherwise; the fields above then
  // describe the shared mesh, and here data_size is 1: every rank reads the
  // whole global batch and each member takes its replica's rows.
  std::shared_ptr<const MemberLayouts> members;
  std::vector<CommunicatorPtr> member_groups;
  // Per member: this rank's seat in the member's pipeline, where it is
  // pipelined and this rank holds one of its stages.
  std::vector<std::optional<PipelineSeat>> member_pipelines;

  bool is_server() const { return server_index >= 0; }

  bool leader() const { return world.rank == 0; }
  bool distributed() const { return comm != nullptr; }
  // The ranks holding the same stage in every replica (gradients are averaged
  // there), and the ranks of this replica's pipeline; null when of size one.
  CommunicatorPtr data_group() const;
  CommunicatorPtr pipeline_group() const;
  // The ranks that split each layer of this replica among them; null when one.
  CommunicatorPtr tensor_group() const;
  // The ranks of this replica and stage in every network group, ordered by group.
  CommunicatorPtr network_peers() const;
  // This rank's seat in the shared mesh's pipeline.
  PipelineSeat pipeline_seat() const;
};

// The mesh ranks are placed on: row-major, so the tensor slices of one stage
// are neighbouring ranks, then the stages of one replica, then the replicas of
// one network group (rank = ((group * data + replica) * pipeline + stage) *
// tensor + slice).
MeshLayout training_mesh(const ParallelConfig& parallel);

// "rank 0: network 0 replica 0, rank 1: ..." (dimensions of size one left out)
// for the start-up message.
std::string describe_placement(const MeshLayout& layout);

// Reads the launcher's variables, checks the config against that world
// (check_training_plan: InputError before any work starts) and joins the other
// ranks on the config's mesh.
ProcessContext join_job(const Config& config);

}  // namespace cohort
