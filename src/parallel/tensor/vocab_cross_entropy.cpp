// The cross-entropy of class-split logits (Megatron's vocab-parallel
// cross-entropy): each rank holds C/T classes of every sample; the softmax's
// maximum, its normaliser and the target's logit are each one allreduce of N
// numbers, so the [N, C] logits are never gathered.
#include <ATen/ATen.h>
#include <torch/csrc/autograd/custom_function.h>

#include "cohort/tensor_parallel.h"

namespace cohort::tp {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

struct VocabParallelCrossEntropy : torch::autograd::Function<VocabParallelCrossEntropy> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& local,
                            const at::Tensor& targets, Communicator* group) {
    const int64_t classes = local.size(1);
    const Share mine = share_of(classes * group->size(), group->size(), group->rank(), "classes");
    // Subtracting the global maximum keeps exp() finite, as log_softmax does.
    at::Tensor top = std::get<0>(local.max(1)).contiguous();
    group->allreduce(top, ReduceOp::Max);
    const at::Tensor shifted = local - top.unsqueeze(1);
    const at::Tensor exps = shifted.exp();
    at::Tensor normaliser = exps.sum(1).contiguous();
    group->allreduce(normaliser, ReduceOp::Sum);
    const at::Tensor here = (targets >= mine.begin) & (targets < mine.begin + mine.size);
    const at::Tensor column = (targets - mine.begin).clamp(0, classes - 1);
    at::Tensor target_logit =
        (shifted.gather(1, column.unsqueeze(1)).squeeze(1) * here.to(shifted.scalar_type()))
            .contiguous();
    group->allreduce(target_logit, ReduceOp::Sum);
    ctx->save_for_backward({exps / normaliser.unsqueeze(1), here, column});
    return (normaliser.log() - target_logit).mean();
  }

  // d(mean loss)/d(logit) = (softmax - one_hot(target)) / N, on this rank's classes.
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor& softmax = saved[0];
    at::Tensor grad = softmax.clone();
    grad.scatter_add_(1, saved[2].unsqueeze(1), -saved[1].to(grad.scalar_type()).unsqueeze(1));
    grad.mul_(grads[0] / double(softmax.size(0)));
    return {grad, at::Tensor(), at::Tensor()};
  }
};

}  // namespace

at::Tensor vocab_parallel_cross_entropy(const at::Tensor& local_logits, const at::Tensor& targets,
                                        Communicator& group) {
  return VocabParallelCrossEntropy::apply(local_logits, targets, &group);
}

}  // namespace cohort::tp
