// What each network minimises on a batch, given every network's logits on it.
#pragma once

#include <ATen/core/Tensor.h>

#include <vector>

#include "cohort/config.h"

namespace cohort {

// One loss per network. Independent methods (none, ensemble, pbt) use plain
// cross-entropy; cooperative ones add a term that looks at the peers' outputs.
std::vector<at::Tensor> network_losses(const CooperateConfig& cooperate,
                                       const std::vector<at::Tensor>& logits,
                                       const at::Tensor& targets);

}  // namespace cohort
