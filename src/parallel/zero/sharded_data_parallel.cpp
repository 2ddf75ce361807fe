#include <fmt/format.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/optim/lbfgs.h>

#include <chrono>
#include <cmath>

#include "cohort/error.h"
#include "cohort/zero.h"
#include "parallel/ddp/model_sync.h"
#include "parallel/zero/arrival_hooks.h"
#include "parallel/zero/gathered_units.h"
#include "parallel/zero/packed_gradient.h"
#include "parallel/zero/unit_reductions.h"

namespace cohort {
namespace {

void check_options(const ShardOptions& options) {
  if (options.stage < 1 || options.stage > 3)
    throw InputError(fmt::format(
        "ShardedDataParallel: stage {} is not one of 1 (optimiser state sharded), 2 (and "
        "gradients) or 3 (and parameters)",
        options.stage));
  if (options.unit_cap_bytes < 1)
    throw InputError("ShardedDataParallel: unit_cap_bytes must be 1 or more");
}

void check_norm_split(const ShardOptions& options, size_t trainable) {
  if (options.norm_group && options.norm_split.size() != trainable)
    throw InputError(fmt::format(
        "ShardedDataParallel: norm_split names {} parameters but the module has {} trainable "
        "ones; give one flag per trainable parameter, in registration order",
        options.norm_split.size(), trainable));
}

// One type and device for every trainable parameter: a unit is one flat buffer.
void check_uniform(const std::vector<at::Tensor>& parameters,
                   const std::vector<std::string>& names) {
  for (size_t i = 1; i < parameters.size(); ++i) {
    if (parameters[i].scalar_type() != parameters[0].scalar_type() ||
        parameters[i].device() != parameters[0].device())
      throw InputError(fmt::format(
          "ShardedDataParallel: parameter '{}' is {} on {} but '{}' is {} on {}; sharding "
          "needs one type and device for every trainable parameter (convert the model first)",
          names[i], c10::toString(parameters[i].scalar_type()), parameters[i].device().str(),
          names[0], c10::toString(parameters[0].scalar_type()), parameters[0].device().str()));
  }
}

// The chunk of every rank, as views: rank r's is chunk r.
std::vector<at::Tensor> chunks_of(const at::Tensor& flat, int world_size) {
  return flat.chunk(world_size);
}

// Two: one unit's reduction runs while backward produces the next unit's
// gradients, and backward's memory stays within two units' whole gradients.
constexpr size_t kReductionsInFlight = 2;

}  // namespace

ShardedDataParallel::ShardedDataParallel(std::shared_ptr<torch::nn::Module> module,
                                         CommunicatorPtr comm,
                                         const ShardOptimizerFactory& make_optimizer,
                                         ShardOptions options)
    : module_(std::move(module)), comm_(std::move(comm)), options_(options) {
  if (!module_) throw InputError("ShardedDataParallel: the module is null");
  if (!comm_) throw InputError("ShardedDataParallel: the communicator is null");
  check_options(options_);
  ddp::check_same_model(*comm_, ddp::describe_module(*module_));

  std::vector<at::Tensor> state;
  std::vector<std::string> names;
  for (const auto& item : module_->named_parameters(/*recurse=*/true)) {
    state.push_back(item.value());
    if (!item.value().requires_grad()) continue;  // frozen: copied, never updated
    parameters_.push_back(item.value());
    names.push_back(item.key());
  }
  for (const auto& item : module_->named_buffers(/*recurse=*/true)) {
    state.push_back(item.value());
    buffers_.push_back(item.value());
  }
  ddp::broadcast_from(*comm_, state, 0);
  check_uniform(parameters_, names);
  check_norm_split(options_, parameters_.size());

  if (options_.stage == 3) {
    shard_parameters_by_layer();
  } else {
    std::vector<int64_t> numels;
    for (const auto& p : parameters_) numels.push_back(p.numel());
    plan_ = plan_flat_shards(numels, comm_->size(), unit_cap_numel());
    for (size_t u = 0; u < plan_.units.size(); ++u) flatten_unit(u);
  }
  optimizer_ = make_optimizer(chunks_);
  if (!optimizer_) throw InputError("ShardedDataParallel: the optimiser factory returned null");
  if (dynamic_cast<torch::optim::LBFGS*>(optimizer_.get()))
    throw InputError(
        "ShardedDataParallel: LBFGS needs the whole gradient at once and cannot update "
        "shards; use an element-wise optimiser (sgd, adam, adamw) or DistributedDataParallel");
  if (options_.stage >= 2) reduce_during_backward();  // last: nothing may throw after it
}

// The hooks call back into this object; the module may outlive it.
ShardedDataParallel::~ShardedDataParallel() {
  if (options_.stage >= 2)
    for (const auto& p : parameters_) zero::clear_arrival_hook(p);
}

void ShardedDataParallel::reduce_during_backward() {
  const size_t units = plan_.units.size();
  reductions_ =
      std::make_unique<zero::UnitReductions>(chunk_gradients_, comm_, kReductionsInFlight);
  gradients_awaited_.assign(units, 0);
  if (options_.stage == 2)
    for (size_t u = 0; u < units; ++u) gradients_awaited_[u] = trainable_in_unit(u);
  unreduced_.assign(units, 0);
  reduced_since_step_.assign(units, 0);
  try {
    for (size_t u = 0; u < units; ++u)
      for (size_t p : plan_.units[u].parameters)
        zero::set_arrival_hook(parameters_[p], [this, u] { on_gradient_arrival(u); });
  } catch (...) {  // no hook may outlive a constructor that failed
    for (const auto& p : parameters_) zero::clear_arrival_hook(p);
    throw;
  }
}

int64_t ShardedDataParallel::trainable_in_unit(size_t u) const {
  return static_cast<int64_t>(plan_.units[u].parameters.size());
}

// Whatever a parameter's .grad holds has not been reduced yet: the unit's
// reduction packs all of it, so a gradient that arrives late (a parameter
// unused in one backward) is reduced with the unit's next reduction.
void ShardedDataParallel::on_gradient_arrival(size_t u) {
  unreduced_[u] = 1;
  if (gradients_awaited_[u] == 0 || --gradients_awaited_[u] > 0) return;
  if (no_sync_depth_ == 0) start_reduction(u);
  if (options_.stage == 3) {
    gathered_->release(u);
  } else {
    gradients_awaited_[u] = trainable_in_unit(u);
  }
}

GradBucket ShardedDataParallel::unit_bucket(size_t u, const at::Tensor& buffer) const {
  const FlatShardUnit& unit = plan_.units[u];
  GradBucket bucket;
  bucket.index = u;
  bucket.step = steps_;
  bucket.buffer = buffer;
  bucket.parameters = unit.parameters;
  for (size_t i = 0; i < unit.parameters.size(); ++i) {
    const at::Tensor& p = parameters_[unit.parameters[i]];
    bucket.views.push_back(buffer.narrow(0, unit.offsets[i], p.numel()).view(p.sizes()));
  }
  return bucket;
}

void ShardedDataParallel::register_comm_hook(CommHookPtr hook) {
  if (!hook) throw InputError("ShardedDataParallel::register_comm_hook: the hook is null");
  hook_ = hook;
  if (reductions_) reductions_->set_hook(std::move(hook));
}

void ShardedDataParallel::start_reduction(size_t u) {
  const FlatShardUnit& unit = plan_.units[u];
  reductions_->start(
      u, unit_bucket(u, zero::take_packed_gradient(unit, parameters_, chunks_[u].options())));
  unreduced_[u] = 0;
  reduced_since_step_[u] = 1;
}

int64_t ShardedDataParallel::unit_cap_numel() const {
  const int64_t element_bytes =
      parameters_.empty() ? 4 : static_cast<int64_t>(parameters_[0].element_size());
  return std::max<int64_t>(1, options_.unit_cap_bytes / element_bytes);
}

void ShardedDataParallel::flatten_unit(size_t u) {
  const FlatShardUnit& unit = plan_.units[u];
  const int rank = comm_->rank();
  at::Tensor flat = at::zeros({unit.padded_numel},
                              parameters_[unit.parameters[0]].options().requires_grad(false));
  at::Tensor flat_grad;
  if (options_.stage == 1) flat_grad = at::zeros_like(flat);
  for (size_t i = 0; i < unit.parameters.size(); ++i) {
    at::Tensor& p = parameters_[unit.parameters[i]];
    at::Tensor view = flat.narrow(0, unit.offsets[i], p.numel()).view(p.sizes());
    view.copy_(p.detach());
    // The parameter keeps its identity (autograd, the optimiser the caller
    // may hold, state_dict) but its storage becomes the unit's buffer, so
    // one all-gather refreshes every parameter of the unit.
    p.set_data(view);
    if (flat_grad.defined())
      p.mutable_grad() = flat_grad.narrow(0, unit.offsets[i], p.numel()).view(p.sizes());
  }
  at::Tensor chunk = chunks_of(flat, plan_.world_size)[rank].detach();
  if (options_.stage == 3) chunk = chunk.clone();  // the buffer's bytes come and go
  at::Tensor chunk_grad =
      flat_grad.defined() ? chunks_of(flat_grad, plan_.world_size)[rank] : at::zeros_like(chunk);
  chunk.mutable_grad() = chunk_grad;
  flat_parameters_.push_back(flat);
  flat_gradients_.push_back(flat_grad);
  chunks_.push_back(chunk);
  chunk_gradients_.push_back(chunk_grad);
}

void ShardedDataParallel::zero_grad() {
  if (options_.stage == 1) {  // the chunks' gradients are views into these
    for (auto& g : flat_gradients_) g.zero_();
    return;
  }
  reductions_->discard_all();
  for (auto& g : chunk_gradients_) g.zero_();
  for (auto& p : parameters_) p.mutable_grad() = at::Tensor();
  std::fill(unreduced_.begin(), unreduced_.end(), 0);
  std::fill(reduced_since_step_.begin(), reduced_since_step_.end(), 0);
  if (options_.stage == 2)
    for (size_t u = 0; u < plan_.units.size(); ++u) gradients_awaited_[u] = trainable_in_unit(u);
}

double ShardedDataParallel::step() {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  if (gathered_) {  // a forward without backward may have left units whole
    gathered_->release_all();
    std::fill(gradients_awaited_.begin(), gradients_awaited_.end(), 0);
  }
  if (options_.stage == 1) {
    allreduce_flat_gradients();
  } else {
    finish_reductions();
  }
  const double norm = clip_chunks();
  const auto reduced = Clock::now();
  optimizer_->step();
  const auto stepped = Clock::now();
  if (options_.stage < 3) gather_parameters();
  if (options_.broadcast_buffers && !buffers_.empty()) ddp::broadcast_from(*comm_, buffers_, 0);
  last_communication_seconds_ = std::chrono::duration<double>(reduced - start).count() +
                                std::chrono::duration<double>(Clock::now() - stepped).count();
  if (reductions_) last_communication_seconds_ += reductions_->take_wait_seconds();
  ++steps_;
  return norm;
}

void ShardedDataParallel::allreduce_flat_gradients() {
  std::vector<CommHandle> pending;
  // Held until every reduction is done: the collectives work on them.
  std::vector<std::vector<at::Tensor>> operands(plan_.units.size());
  std::vector<GradBucket> buckets(plan_.units.size());
  std::vector<PendingReduction> hooked;
  for (size_t u = 0; u < plan_.units.size(); ++u) {
    const FlatShardUnit& unit = plan_.units[u];
    // Autograd added into the views; a caller that replaced a gradient
    // (set_to_none, a new tensor) gets it copied back into the buffer.
    for (size_t i = 0; i < unit.parameters.size(); ++i) {
      at::Tensor& p = parameters_[unit.parameters[i]];
      at::Tensor view = flat_gradients_[u].narrow(0, unit.offsets[i], p.numel());
      const at::Tensor& g = p.grad();
      if (!g.defined()) {
        view.zero_();
      } else if (g.data_ptr() != view.data_ptr()) {
        view.copy_(g.reshape({-1}));
      }
      p.mutable_grad() = view.view(p.sizes());
    }
    if (hook_) {
      buckets[u] = unit_bucket(u, flat_gradients_[u]);
      hooked.push_back(hook_->run(buckets[u], *comm_));
      continue;
    }
    operands[u] = {flat_gradients_[u]};
    pending.push_back(comm_->allreduce_async(operands[u], ReduceOp::Average));
  }
  for (auto& handle : pending) handle.wait();
  for (auto& reduction : hooked) reduction.wait();
}

// Units reduced during backward need nothing more unless gradients arrived
// after (a later backward that did not reach all of them); a unit never
// reduced since the last step is reduced now, zeros included, so that every
// rank starts the same collectives.
void ShardedDataParallel::finish_reductions() {
  for (size_t u = 0; u < plan_.units.size(); ++u)
    if (unreduced_[u] || !reduced_since_step_[u]) start_reduction(u);
  reductions_->finish_all();
  std::fill(reduced_since_step_.begin(), reduced_since_step_.end(), 0);
  // The optimiser reads chunk.grad; a caller's optimizer().zero_grad() may have dropped it.
  for (size_t u = 0; u < chunks_.size(); ++u) chunks_[u].mutable_grad() = chunk_gradients_[u];
}

// torch::nn::utils::clip_grad_norm_'s rule over the union of the ranks' chunks:
// the squared norms add up across ranks (padding is zero and adds nothing).
double ShardedDataParallel::clip_chunks() {
  double squared = 0;
  if (options_.norm_group) {
    squared = squared_norm_across_slices();
  } else {
    at::Tensor squares = at::zeros(
        {1}, chunks_.empty() ? at::TensorOptions(at::kFloat) : chunk_gradients_[0].options());
    for (const auto& g : chunk_gradients_) squares += g.pow(2).sum();
    comm_->allreduce(squares, ReduceOp::Sum);
    squared = squares.item<double>();
  }
  const double norm = std::sqrt(squared);
  if (options_.max_grad_norm > 0) {
    const double coefficient = options_.max_grad_norm / (norm + 1e-6);
    if (coefficient < 1)
      for (auto& g : chunk_gradients_) g.mul_(coefficient);
  }
  return norm;
}

// Each parameter's part of this rank's chunk goes to the split or the whole
// sum; the data group's ranks add their chunks up to the slice's sums, and
// the slices' split sums add up across norm_group.
double ShardedDataParallel::squared_norm_across_slices() {
  at::Tensor sums = at::zeros({2}, at::kDouble);  // split, whole
  const int64_t rank = comm_->rank();
  for (size_t u = 0; u < plan_.units.size(); ++u) {
    const FlatShardUnit& unit = plan_.units[u];
    const int64_t chunk = chunks_[u].numel(), begin = rank * chunk, end = begin + chunk;
    for (size_t i = 0; i < unit.parameters.size(); ++i) {
      const int64_t first = std::max(begin, unit.offsets[i]);
      const int64_t last = std::min(end, unit.offsets[i] + parameters_[unit.parameters[i]].numel());
      if (first >= last) continue;
      const at::Tensor part = chunk_gradients_[u].narrow(0, first - begin, last - first);
      sums[options_.norm_split[unit.parameters[i]] ? 0 : 1] += part.to(at::kDouble).pow(2).sum();
    }
  }
  comm_->allreduce(sums, ReduceOp::Sum);
  at::Tensor split = sums.narrow(0, 0, 1).clone();
  options_.norm_group->allreduce(split, ReduceOp::Sum);
  return split.item<double>() + sums[1].item<double>();
}

void ShardedDataParallel::gather_parameters() {
  std::vector<CommHandle> pending;
  std::vector<std::vector<at::Tensor>> outputs(plan_.units.size());
  for (size_t u = 0; u < plan_.units.size(); ++u) {
    outputs[u] = chunks_of(flat_parameters_[u], plan_.world_size);
    pending.push_back(comm_->allgather_async(outputs[u], chunks_[u]));
  }
  for (auto& handle : pending) handle.wait();
}

ShardMemory ShardedDataParallel::memory() const {
  ShardMemory m;
  for (const auto& flat : flat_parameters_) m.parameters += flat.nbytes();
  if (gathered_) {
    m.parameters = 0;
    for (const auto& chunk : chunks_) m.parameters += chunk.nbytes();
  }
  if (options_.stage == 1) {
    for (const auto& flat : flat_gradients_) m.gradients += flat.nbytes();
  } else {
    for (const auto& g : chunk_gradients_) m.gradients += g.nbytes();
  }
  m.optimizer = optimizer_state_bytes(*optimizer_);
  return m;
}

}  // namespace cohort
