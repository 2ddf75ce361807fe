// A network trained in its tensor-parallel form (cohort/tensor_parallel.h):
// the form, built from the network's (restored) weights, and its own
// optimiser over this rank's slices, with the way back to the whole network
// that evaluation, codistillation's copies and checkpoints use. Between those
// moments the whole network's parameters hold no bytes (their data is emptied,
// the tensors themselves kept), so a rank holds 1/T of the split layers.
#pragma once

#include <torch/nn/modules/container/sequential.h>
#include <torch/optim/optimizer.h>

#include <memory>
#include <vector>

#include "cohort/comm.h"
#include "cohort/zero.h"
#include "train/networks/network.h"

namespace cohort {

class TensorNetwork {
 public:
  // Collective over `group`. A resumed network's whole optimiser state is
  // split into the form's optimiser, and the whole one emptied.
  TensorNetwork(Network& net, CommunicatorPtr group);

  torch::nn::Sequential& model() { return form_; }
  torch::optim::Optimizer& optimizer() { return *optimizer_; }
  // Global-norm clipping over the whole model's gradients (0: off).
  void clip(double max_norm);
  // Collective: the whole network's weights, and with `with_state` its
  // optimiser's state too, become the form's gathered ones.
  void gather_into_whole(bool with_state);
  // The whole network's parameters and optimiser state give their bytes back
  // until the next gather.
  void release_whole();
  // The bytes this rank holds for the form: parameters, gradients, optimiser state.
  ShardMemory memory() const;

 private:
  Network& net_;
  CommunicatorPtr group_;
  torch::nn::Sequential form_;
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  std::vector<std::vector<int64_t>> whole_shapes_;  // of net_.model's parameters
  bool whole_released_ = false;
};

}  // namespace cohort
