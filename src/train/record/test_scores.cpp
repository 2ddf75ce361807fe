#include "train/record/test_scores.h"

namespace cohort {

nlohmann::json test_scores(Task task, double accuracy, double loss) {
  nlohmann::json out{{"test_loss", loss}};
  if (task == Task::Classification) out["test_accuracy"] = accuracy;
  return out;
}

}  // namespace cohort
