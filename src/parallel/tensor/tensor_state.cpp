// What the tensor-parallel form's gradients and optimiser state are as a whole
// model's: the global gradient norm for clipping, and the optimiser state
// gathered into (and split from) a whole optimiser for checkpoints.
#include <ATen/ATen.h>
#include <fmt/format.h>

#include <cmath>
#include <functional>

#include "cohort/error.h"
#include "cohort/tensor_parallel.h"
#include "parallel/common/optimizer_state_kind.h"

namespace cohort::tp {
namespace {

constexpr const char* kWho = "tensor parallelism";

const torch::optim::OptimizerParamState* state_of(const torch::optim::Optimizer& optimizer,
                                                  const at::Tensor& parameter) {
  const auto found = optimizer.state().find(parameter.unsafeGetTensorImpl());
  return found == optimizer.state().end() ? nullptr : found->second.get();
}

void check_pairs(const std::vector<at::Tensor>& a, const std::vector<at::Tensor>& b) {
  if (a.size() != b.size())
    throw InputError(fmt::format("{}: the whole model has {} parameters, its parallel form {}",
                                 kWho, a.size(), b.size()));
}

// Each parameter's state from `from` into `to` (the parameters pair up in
// order), its tensors converted along the parameter's split dimension; whole
// parameters' state copied. Every rank steps every parameter, so a parameter
// without state here has none anywhere, and all skip it alike.
void move_state(const torch::optim::Optimizer& from, const std::vector<at::Tensor>& from_params,
                torch::optim::Optimizer& to, const std::vector<at::Tensor>& to_params,
                const std::vector<int64_t>& dims,
                const std::function<at::Tensor(const at::Tensor&, int64_t)>& convert) {
  check_same_state_kind(from, to, kWho);
  check_pairs(from_params, to_params);
  const StateKind kind = state_kind_of(to, kWho);
  for (size_t i = 0; i < from_params.size(); ++i) {
    const auto* state = state_of(from, from_params[i]);
    if (!state) continue;
    std::vector<at::Tensor> moved;
    const at::IntArrayRef shape = from_params[i].sizes();
    for (const at::Tensor& t : kind.tensors(*state, shape)) {
      if (!t.defined())
        moved.emplace_back();
      else
        moved.push_back(dims[i] < 0 ? t.clone() : convert(t, dims[i]));
    }
    to.state()[to_params[i].unsafeGetTensorImpl()] = kind.with(*state, shape, moved);
  }
}

}  // namespace

double squared_grad_norm(const torch::nn::Sequential& parallel, Communicator& group) {
  const auto params = parallel->parameters();
  const auto dims = split_dims(parallel);
  // The split parameters' squares are summed over the group, the whole ones' not.
  at::Tensor split = at::zeros({1}, at::kDouble), whole = at::zeros({1}, at::kDouble);
  for (size_t i = 0; i < params.size(); ++i) {
    const at::Tensor& g = params[i].grad();
    if (!g.defined()) continue;
    (dims[i] < 0 ? whole : split) += g.detach().to(at::kDouble).pow(2).sum().cpu();
  }
  group.allreduce(split, ReduceOp::Sum);
  return (split + whole).item<double>();
}

double clip_grad_norm(const torch::nn::Sequential& parallel, double max_norm, Communicator& group) {
  const auto params = parallel->parameters();
  const double norm = std::sqrt(squared_grad_norm(parallel, group));
  // torch's clip_grad_norm_: scale by max_norm / (norm + 1e-6) when below 1.
  const double scale = max_norm / (norm + 1e-6);
  if (max_norm > 0 && scale < 1) {
    at::NoGradGuard no_grad;
    for (const at::Tensor& p : params)
      if (p.grad().defined()) p.grad().mul_(scale);
  }
  return norm;
}

void gather_optimizer_state(const torch::nn::Sequential& parallel,
                            const torch::optim::Optimizer& parallel_optimizer,
                            const torch::nn::Sequential& whole,
                            torch::optim::Optimizer& whole_optimizer, Communicator& group) {
  move_state(parallel_optimizer, parallel->parameters(), whole_optimizer, whole->parameters(),
             split_dims(parallel), [&group](const at::Tensor& slice, int64_t dim) {
               return at::cat(group.allgather(slice.contiguous()), dim);
             });
}

void load_optimizer_state(const torch::nn::Sequential& whole,
                          const torch::optim::Optimizer& whole_optimizer,
                          const torch::nn::Sequential& parallel,
                          torch::optim::Optimizer& parallel_optimizer, Communicator& group) {
  move_state(whole_optimizer, whole->parameters(), parallel_optimizer, parallel->parameters(),
             split_dims(parallel), [&group](const at::Tensor& all, int64_t dim) {
               const Share s = share_of(all.size(dim), group.size(), group.rank(), "state");
               return all.narrow(dim, s.begin, s.size).clone();
             });
}

}  // namespace cohort::tp
