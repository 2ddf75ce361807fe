#include "cohort/local_sgd.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

namespace cohort {

void average_parameters(torch::nn::Module& module, Communicator& comm) {
  std::vector<at::Tensor> state;
  for (const auto& p : module.parameters()) state.push_back(p);
  for (const auto& b : module.buffers())
    if (at::isFloatingType(b.scalar_type())) state.push_back(b);
  if (state.empty() || comm.size() == 1) return;
  std::vector<at::Tensor> flat_parts;
  for (const auto& t : state) flat_parts.push_back(t.detach().reshape(-1));
  at::Tensor flat = at::cat(flat_parts);
  comm.allreduce(flat, ReduceOp::Average);
  c10::NoGradGuard no_grad;
  int64_t offset = 0;
  for (auto& t : state) {
    t.copy_(flat.narrow(0, offset, t.numel()).view(t.sizes()));
    offset += t.numel();
  }
}

}  // namespace cohort
