// Megatron's f, g, gather and split as autograd functions: each forward and
// backward is one visible collective (or none).
#include <ATen/ATen.h>
#include <fmt/format.h>
#include <torch/csrc/autograd/custom_function.h>

#include "cohort/error.h"
#include "cohort/tensor_parallel.h"

namespace cohort::tp {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Backward needs the group: the graph holds its address (the group outlives
// the graph, tensor_parallel.h says so).
void keep_group(AutogradContext* ctx, Communicator& group) {
  ctx->saved_data["group"] = int64_t(reinterpret_cast<intptr_t>(&group));
}
Communicator& group_of(AutogradContext* ctx) {
  return *reinterpret_cast<Communicator*>(intptr_t(ctx->saved_data["group"].toInt()));
}

at::Tensor summed(const at::Tensor& x, Communicator& group) {
  at::Tensor out = x.contiguous().clone();
  group.allreduce(out, ReduceOp::Sum);
  return out;
}

at::Tensor gathered(const at::Tensor& x, Communicator& group, int64_t dim) {
  return at::cat(group.allgather(x.contiguous()), dim);
}

at::Tensor own_slice(const at::Tensor& x, Communicator& group, int64_t dim) {
  const Share s = share_of(x.size(dim), group.size(), group.rank(), "the split dimension");
  return x.narrow(dim, s.begin, s.size).contiguous();
}

struct CopyToGroup : torch::autograd::Function<CopyToGroup> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, Communicator* group) {
    keep_group(ctx, *group);
    return x;  // autograd makes it a view: no copy of the (whole) input is held
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    return {summed(grads[0], group_of(ctx)), at::Tensor()};
  }
};

struct ReduceFromGroup : torch::autograd::Function<ReduceFromGroup> {
  static at::Tensor forward(AutogradContext*, const at::Tensor& x, Communicator* group) {
    return summed(x, *group);
  }
  static variable_list backward(AutogradContext*, variable_list grads) {
    return {grads[0], at::Tensor()};
  }
};

struct GatherFromGroup : torch::autograd::Function<GatherFromGroup> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, Communicator* group,
                            int64_t dim) {
    keep_group(ctx, *group);
    ctx->saved_data["dim"] = dim;
    return gathered(x, *group, dim);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    return {own_slice(grads[0], group_of(ctx), ctx->saved_data["dim"].toInt()), at::Tensor(),
            at::Tensor()};
  }
};

struct SplitToGroup : torch::autograd::Function<SplitToGroup> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, Communicator* group,
                            int64_t dim) {
    keep_group(ctx, *group);
    ctx->saved_data["dim"] = dim;
    return own_slice(x, *group, dim);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    return {gathered(grads[0], group_of(ctx), ctx->saved_data["dim"].toInt()), at::Tensor(),
            at::Tensor()};
  }
};

int64_t positive_dim(const at::Tensor& x, int64_t dim) { return dim < 0 ? dim + x.dim() : dim; }

}  // namespace

Share share_of(int64_t total, int parts, int index, const char* what) {
  if (parts < 1 || total % parts != 0)
    throw InputError(
        fmt::format("tensor parallelism over {} ranks splits {} evenly, but it has {}: "
                    "choose a tensor degree that divides {}",
                    parts, what, total, total));
  const int64_t size = total / parts;
  return {size * index, size};
}

at::Tensor copy_to_group(const at::Tensor& x, Communicator& group) {
  return CopyToGroup::apply(x, &group);
}

at::Tensor reduce_from_group(const at::Tensor& x, Communicator& group) {
  return ReduceFromGroup::apply(x, &group);
}

at::Tensor gather_from_group(const at::Tensor& x, Communicator& group, int64_t dim) {
  return GatherFromGroup::apply(x, &group, positive_dim(x, dim));
}

at::Tensor split_to_group(const at::Tensor& x, Communicator& group, int64_t dim) {
  return SplitToGroup::apply(x, &group, positive_dim(x, dim));
}

}  // namespace cohort::tp
