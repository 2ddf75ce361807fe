#include "cohort/ddp.h"

#include <fmt/format.h>

#include "cohort/error.h"
#include "parallel/ddp/gradient_hooks.h"
#include "parallel/ddp/model_sync.h"
#include "parallel/ddp/reducer.h"

namespace cohort {

DistributedDataParallel::DistributedDataParallel(std::shared_ptr<torch::nn::Module> module,
                                                 CommunicatorPtr comm, DdpOptions options)
    : module_(std::move(module)), comm_(std::move(comm)), options_(std::move(options)) {
  if (!module_) throw InputError("DistributedDataParallel: the module is null");
  if (!comm_) throw InputError("DistributedDataParallel: the communicator is null");
  ddp::check_same_model(*comm_, ddp::describe_module(*module_));

  std::vector<at::Tensor> state;
  std::vector<at::Tensor> trained;
  std::vector<std::string> names;
  for (const auto& item : module_->named_parameters(/*recurse=*/true)) {
    state.push_back(item.value());
    // Frozen parameters get no gradient and need no reduction (still copied).
    if (!item.value().requires_grad()) continue;
    trained.push_back(item.value());
    names.push_back(item.key());
  }
  for (const auto& item : module_->named_buffers(/*recurse=*/true)) {
    state.push_back(item.value());
    buffers_.push_back(item.value());
  }
  ddp::broadcast_from(*comm_, state, 0);

  reducer_ = std::make_unique<ddp::Reducer>(trained, std::move(names), comm_, options_);
  ddp::Reducer* reducer = reducer_.get();
  hooks_ = std::make_unique<ddp::GradientHookRegistry>(
      trained, [reducer](size_t parameter) { reducer->on_gradient_ready(parameter); });
}

DistributedDataParallel::~DistributedDataParallel() = default;
DistributedDataParallel::DistributedDataParallel(DistributedDataParallel&&) noexcept = default;
DistributedDataParallel& DistributedDataParallel::operator=(DistributedDataParallel&&) noexcept =
    default;

void DistributedDataParallel::synchronize() {
  if (!reducer_->synchronize()) return;
  // After the step's reductions, so every rank issues collectives in one order.
  if (options_.broadcast_buffers && !buffers_.empty()) ddp::broadcast_from(*comm_, buffers_, 0);
}

DistributedDataParallel::NoSync::NoSync(DistributedDataParallel& ddp) : ddp_(&ddp) {
  ddp_->reducer_->enter_no_sync();
}

DistributedDataParallel::NoSync::~NoSync() { ddp_->reducer_->leave_no_sync(); }

void DistributedDataParallel::register_comm_hook(CommHookPtr hook) {
  reducer_->set_hook(std::move(hook));
}

const BucketPlan& DistributedDataParallel::bucket_plan() const { return reducer_->plan(); }

const std::vector<std::string>& DistributedDataParallel::parameter_names() const {
  return reducer_->names();
}

const StepTimeline& DistributedDataParallel::last_timeline() const {
  return reducer_->last_timeline();
}

int64_t DistributedDataParallel::steps() const { return reducer_->steps(); }

}  // namespace cohort
