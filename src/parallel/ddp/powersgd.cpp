// PowerSGD (Vogels, Karimireddy, Jaggi, "PowerSGD: Practical Low-Rank Gradient
// Compression for Distributed Optimization", NeurIPS 2019), Algorithm 1 with
// error feedback and warm start (Q carried over from the previous step). Per bucket and step:
//   M += E                            error feedback
//   P  = allreduce(M Q)               with the uncompressed vectors, one message
//   P  = orth(P)                      scale-free, so P is summed, not averaged
//   Q  = allreduce(M^T P) / N         second message
//   E  = M - P Q^T;  M = P Q^T        every rank holds the same P and Q
#include <ATen/CPUGeneratorImpl.h>
#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>

#include "cohort/ddp/comm_hook.h"
#include "cohort/error.h"

namespace cohort {

struct PowerSgdHook::BucketState {
  std::vector<size_t> parameters;  // the bucket this state was made for
  std::vector<size_t> matrices;    // positions in GradBucket::views sent as P, Q
  std::vector<size_t> vectors;     // positions sent uncompressed
  std::vector<at::Tensor> q;       // m x r per matrix, kept between steps
  std::vector<at::Tensor> error;   // n x m per matrix
};

namespace {

// The gradient as rows x rest, the shape PowerSGD factorises.
at::Tensor as_matrix(const at::Tensor& view) { return view.view({view.size(0), -1}); }

}  // namespace

PowerSgdHook::PowerSgdHook(PowerSgdOptions options) : options_(options) {
  if (options_.rank < 1) {
    throw InputError(fmt::format("PowerSGD: rank must be at least 1, got {}", options_.rank));
  }
}

PowerSgdHook::~PowerSgdHook() = default;

PendingReduction PowerSgdHook::run(GradBucket& bucket, Communicator& comm) {
  if (bucket.step < options_.start_step) return exact_.run(bucket, comm);
  if (states_.size() <= bucket.index) states_.resize(bucket.index + 1);
  auto& state = states_[bucket.index];
  if (!state || state->parameters != bucket.parameters) {
    // New, or the bucket plan was rebuilt: start this bucket afresh.
    state = std::make_shared<BucketState>();
    state->parameters = bucket.parameters;
    auto generator = at::detail::createCPUGenerator(options_.seed + 7919 * bucket.index);
    for (size_t i = 0; i < bucket.views.size(); ++i) {
      const at::Tensor& view = bucket.views[i];
      const int64_t n = view.dim() >= 2 ? view.size(0) : 0;
      const int64_t m = n > 0 ? view.numel() / n : 0;
      const int64_t r = std::min({options_.rank, n, m});
      // Worth it only when the factors are smaller than the matrix.
      if (view.dim() < 2 || n * m <= r * (n + m)) {
        state->vectors.push_back(i);
        continue;
      }
      state->matrices.push_back(i);
      state->q.push_back(at::randn({m, r}, generator, view.options()));
      state->error.push_back(at::zeros({n, m}, view.options()));
    }
  }

  const int world = comm.size();
  std::vector<at::Tensor> m_list;
  for (size_t k = 0; k < state->matrices.size(); ++k) {
    at::Tensor m = as_matrix(bucket.views[state->matrices[k]]);
    if (options_.error_feedback) m.add_(state->error[k]);
    m_list.push_back(m);
  }

  // Message 1: the uncompressed vectors (divided, so the sum is the mean) and P.
  int64_t length = 0;
  for (size_t i : state->vectors) length += bucket.views[i].numel();
  for (size_t k = 0; k < m_list.size(); ++k) length += m_list[k].size(0) * state->q[k].size(1);
  at::Tensor message = at::empty({length}, bucket.buffer.options());
  int64_t offset = 0;
  for (size_t i : state->vectors) {
    const at::Tensor& view = bucket.views[i];
    message.narrow(0, offset, view.numel()).copy_(view.reshape({-1})).div_(world);
    offset += view.numel();
  }
  std::vector<at::Tensor> p_list;
  for (size_t k = 0; k < m_list.size(); ++k) {
    const int64_t n = m_list[k].size(0), r = state->q[k].size(1);
    at::Tensor p = message.narrow(0, offset, n * r).view({n, r});
    at::mm_out(p, m_list[k], state->q[k]);
    p_list.push_back(p);
    offset += n * r;
  }
  std::vector<at::Tensor> tensors = {message};
  CommHandle handle = comm.allreduce_async(tensors, ReduceOp::Sum);

  auto finish = [this, state, &comm, world, views = bucket.views, message, m_list, p_list] {
    int64_t at_offset = 0;
    for (size_t i : state->vectors) {
      views[i].copy_(message.narrow(0, at_offset, views[i].numel()).view(views[i].sizes()));
      at_offset += views[i].numel();
    }
    if (m_list.empty()) return;
    // Message 2: Q = M^T orth(P), summed then divided.
    int64_t q_length = 0;
    for (const auto& q : state->q) q_length += q.numel();
    at::Tensor q_message = at::empty({q_length}, message.options());
    std::vector<at::Tensor> q_list;
    int64_t q_offset = 0;
    for (size_t k = 0; k < m_list.size(); ++k) {
      p_list[k].copy_(std::get<0>(at::linalg_qr(p_list[k])));
      at::Tensor q = q_message.narrow(0, q_offset, state->q[k].numel()).view(state->q[k].sizes());
      at::mm_out(q, m_list[k].t(), p_list[k]);
      q_list.push_back(q);
      q_offset += q.numel();
    }
    comm.allreduce(q_message, ReduceOp::Sum);
    q_message.div_(world);
    for (size_t k = 0; k < m_list.size(); ++k) {
      at::Tensor approx = at::mm(p_list[k], q_list[k].t());
      if (options_.error_feedback) at::sub_out(state->error[k], m_list[k], approx);
      m_list[k].copy_(approx);
      state->q[k].copy_(q_list[k]);  // warm start: next step's power iteration begins here
    }
  };
  return PendingReduction(std::move(handle), std::move(finish));
}

}  // namespace cohort
