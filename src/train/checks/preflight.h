// Checks made before a run writes anything or takes a step. Each failure is an
// InputError naming what the user gave (a key, a folder), so a bad run fails in
// its first second instead of after an epoch, and leaves no run folder behind.
#pragma once

#include <string>

#include "cohort/config.h"
#include "cohort/data.h"
#include "train/networks/network.h"

namespace cohort {

// Bytes a network needs to train: parameters, gradients, optimiser state and a
// checkpoint's copy, 4 bytes each. Pure, for tests.
double training_bytes(const NetworkConfig& network);

// Refuses networks whose training state would not fit in the memory this machine
// has available (MemAvailable), before any is allocated: an allocator failure, or
// the kernel's OOM killer, would otherwise end the run without a word.
void check_memory(const Config& config);

// Train and test splits that fit each other: samples of one shape, the same
// classes, something to train on, and (IDX) the splits not swapped. The loaders
// check each split's own targets; this checks the pair, for any Dataset.
void check_datasets(const DataSource& source, const Dataset& train, const Dataset& test);

// The zoo fits the data: every network takes the training split's sample shape
// and predicts its classes (ModelSpec::input_shape, num_classes).
Config fit_to_data(Config config, const SampleSpec& data);

// One forward pass of two training samples through the network (in eval mode, so
// nothing is updated) must give one row of class scores each.
void check_network_accepts(Network& net, const Dataset& train, size_t index);

}  // namespace cohort
