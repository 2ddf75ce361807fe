// The training loop. Each step below is a method of TrainingRun
// (training_run.h); what differs between layouts is the step engine's
// (engines/), what the cohort's networks exchange is cohort/'s, and what the run
// leaves behind is record/'s.
#include "cohort/trainer.h"

#include "train/training_run.h"

namespace cohort {

RunSummary train(const Config& config, const RunOptions& options) {
  TrainingRun run(config, options);
  if (run.serves_parameters()) return run.serve_parameters();
  run.start();
  for (; run.epochs_left(); run.end_epoch()) {
    const at::Tensor order = run.epoch_order();
    while (run.batches_left()) {
      const Batch batch = run.next_batch(order);
      const StepOutcome outcome = run.step(batch);
      run.log(outcome, batch);
      run.checkpoint_if_due();
      run.stop_if_interrupted();
    }
  }
  return run.finish();
}

}  // namespace cohort
