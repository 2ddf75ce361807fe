// A network's (or ensemble's) test result as JSON, written alike in metrics.jsonl,
// summary.json and `cohort eval`: `test_loss` always, `test_accuracy` for
// classification only (regression has no accuracy; its loss is the score).
#pragma once

#include <nlohmann/json.hpp>

#include "cohort/task.h"

namespace cohort {

nlohmann::json test_scores(Task task, double accuracy, double loss);

}  // namespace cohort
