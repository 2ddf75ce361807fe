// A run's checkpoint, beyond the networks' weights: where it stood, the
// hyperparameters PBT may have changed, and what the step engine carries
// between steps; written at a position and read back on resume.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cohort/checkpoint.h"
#include "train/networks/network.h"

namespace cohort {

// Where the run stands: the next step to take, in which epoch and batch.
struct Position {
  int64_t step = 0, epoch = 0, batch = 0;
};

// `engine_json`: the engine's checkpoint_state(), a JSON object.
TrainingState run_state(const std::vector<Network>& nets, const Position& at,
                        const std::string& config_text, const std::string& engine_json);

// Restores the networks (weights, optimiser state, hyperparameters) from the
// checkpoint folder `checkpoint`, checking it fits the config; `engine_json`
// gets the engine's saved state ("" when none). InputError naming the file.
Position restore_run(const std::string& checkpoint, std::vector<Network>& nets,
                     std::string& engine_json);

}  // namespace cohort
