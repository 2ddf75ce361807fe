#include "train/engines/member_pipelines.h"

#include <ATen/ATen.h>

namespace cohort {

MemberPipelines::MemberPipelines(const Config& config, const ProcessContext& ctx,
                                 std::vector<Network>& nets, const at::Tensor& sample,
                                 MetricsLog& metrics)
    : engines_(nets.size()) {
  const int64_t global = config.parallel.data * config.train.batch_size;
  for (size_t k = 0; k < nets.size(); ++k) {
    if (!ctx.members || !ctx.members->pipelined(k)) continue;
    const int64_t micro_rows =
        global / ctx.members->replicas(k) / std::max<int64_t>(1, config.parallel.micro_batches);
    if (!ctx.member_pipelines[k]) continue;  // not one of the member's ranks
    engines_[k] = std::make_unique<PipelineEngine>(
        config, *ctx.member_pipelines[k], nets[k],
        sample.slice(0, 0, std::max<int64_t>(1, micro_rows)), "", metrics, -1);
    held_.push_back(k);
  }
}

MemberPipelines::Stepped MemberPipelines::step(size_t k, const Batch& rows, PipelineLoss loss,
                                               int64_t step, int64_t total_steps) {
  PipelineEngine& engine = *engines_[k];
  at::Tensor logits;  // the last stage's outputs, micro-batch by micro-batch
  engine.set_loss([&](const at::Tensor& output, const at::Tensor& targets, int64_t first_row) {
    if (!logits.defined()) {
      auto shape = output.sizes().vec();
      shape[0] = rows.targets.size(0);
      logits = at::empty(shape, output.options().requires_grad(false));
    }
    logits.narrow(0, first_row, output.size(0)).copy_(output.detach());
    return loss(output, targets, first_row);
  });
  const StepOutcome outcome = engine.step(rows, step, total_steps);
  engine.set_loss({});
  return {outcome.loss.at(0), outcome.accuracy.at(0), logits};
}

void MemberPipelines::gather_networks() {
  for (size_t k : held_) engines_[k]->gather_networks();
}

void MemberPipelines::add_costs(StepCosts& costs) {
  for (size_t k : held_) {
    const StepCosts c = engines_[k]->take_costs();
    costs.communication += c.communication;
    costs.exposed_communication += c.exposed_communication;
    costs.pipeline_idle += c.pipeline_idle;
  }
}

void MemberPipelines::set_trace(TraceRecorder* trace) {
  for (size_t k : held_) engines_[k]->set_trace(trace);
}

}  // namespace cohort
