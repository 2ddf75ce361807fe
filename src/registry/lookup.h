// The library's side of include/cohort/registry.h: the zoo and the data sources
// ask here for a name they do not know.
#pragma once

#include "cohort/registry.h"

namespace cohort {

// nullptr when `name` was not registered.
const ModelBuilder* registered_model(const std::string& name);
const DatasetLoader* registered_dataset(const std::string& name);
const OptimizerBuilder* registered_optimizer(const std::string& name);

}  // namespace cohort
