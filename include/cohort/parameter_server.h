// Asynchronous data parallelism with sharded parameter servers (Downpour SGD,
// Dean et al., NIPS 2012) and a staleness bound (stale-synchronous parallel).
// S server ranks each own a shard of the parameters (cohort/async/shard_plan.h)
// and apply every push with their own optimiser; W worker ranks compute
// gradients on their data, push them, and pull fresh parameters without waiting
// for each other, except as the staleness bound demands.
//
//   worker w, step t:  forward, backward on its batch
//                      client.push_pull(t, lr)   // gradients out, parameters in
//   server s:          ParameterServer(...).run() until every worker finished
//
// Each push is applied at once as gradient / W (and weight decay / W), so one
// round of W pushes moves the parameters as one synchronous step with the mean
// gradient would; with plain SGD and s = 0 it is that step, up to the order of
// the additions.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "cohort/async/shard_plan.h"
#include "cohort/comm.h"
#include "cohort/config.h"
#include "cohort/trace.h"

namespace cohort {

struct ServerOptions {
  std::vector<int> workers;           // the workers' ranks in the communicator; worker id = index
  int64_t staleness = -1;             // s; negative: unbounded
  bool staleness_lr_scaling = false;  // lr / (1 + rounds of updates since the pusher read)
  int server_index = 0;               // for messages
  // Called after every applied push with the count so far (fault injection).
  std::function<void(int64_t pushes)> after_push;
};

// What a server saw, for the run's summary.
struct ServerReport {
  int64_t pushes = 0;             // gradients applied
  int64_t max_lead = 0;           // the largest lead of any worker it let start a step (<= s)
  std::vector<int> lost_workers;  // workers that died before finishing
};

class ParameterServer {
 public:
  // `shard`: this server's parameters, in the plan's order, holding their
  // initial values (copied). `optimizer` names the server-side optimiser and its
  // hyperparameters (the learning rate comes with every push).
  ParameterServer(CommunicatorPtr comm, const std::vector<at::Tensor>& shard,
                  const NetworkConfig& optimizer, ServerOptions options);
  ~ParameterServer();

  // Serves until every worker has finished or died. A dead worker is retired
  // (it holds no one back) and named in the report and on stderr.
  ServerReport run(TraceRecorder& trace);

  // The shard's current values (views; valid while the server lives).
  const std::vector<at::Tensor>& parameters() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

class ParameterClient {
 public:
  // `parameters`: the worker's model parameters (all of them, registration
  // order); `servers[s]`: the rank of server s in the communicator.
  ParameterClient(CommunicatorPtr comm, std::vector<at::Tensor> parameters, ShardPlan plan,
                  std::vector<int> servers, int worker);
  ~ParameterClient();

  // Pushes every parameter's gradient of step `step` to its server and, once
  // the staleness bound allows step + 1, overwrites the parameters with the
  // servers' values. Returns the lead the servers granted (largest over servers).
  int64_t push_pull(int64_t step, double lr);
  // The servers' current parameters, now (for evaluation and checkpoints).
  void pull();
  // Tells the servers this worker is done and waits for the final parameters,
  // which exist once every worker is done. Call once, last.
  void finish();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace cohort
