// Checkpoints: one folder per save, `step-NNNNNNNN/`, holding `state.pt` (a pickle
// archive of named tensors that Python's torch.load opens) and `manifest.json`
// (format version, step, the resolved config, every tensor's name and shape, the
// byte size and CRC-32 of state.pt). The folder is written under a temporary name,
// fsynced, then renamed, so a crash mid-write never replaces the last good one.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace cohort {

using NamedTensors = std::vector<std::pair<std::string, at::Tensor>>;

struct NetworkState {
  std::string name;
  std::string model;
  NamedTensors tensors;  // "param.X", "buffer.X", "optim.N.field"
};

struct TrainingState {
  int64_t step = 0;            // optimiser steps completed
  int64_t epoch = 0;           // epoch in progress
  int64_t batch_in_epoch = 0;  // batches of that epoch completed
  std::string config_toml;     // the resolved config the run uses
  std::string extra_json = "{}";  // method-specific state (e.g. PBT lineage)
  std::vector<NetworkState> networks;
};

// Writes <run_dir>/checkpoints/step-<step>/ atomically and keeps the newest
// `keep` checkpoints. Returns the folder written.
std::string save_checkpoint(const std::string& run_dir, const TrainingState& state, int64_t keep);

// Loads a checkpoint folder (or, given a run folder, its newest checkpoint),
// verifying manifest, size and checksum. Raises InputError saying what is wrong.
TrainingState load_checkpoint(const std::string& path);

// The same checks on a checkpoint's two files already in memory; `origin` names
// the folder in errors.
TrainingState parse_checkpoint(const std::string& manifest_json, const std::vector<char>& state_pt,
                               const std::string& origin);

// The newest complete checkpoint folder of a run, or "" when there is none.
std::string latest_checkpoint(const std::string& run_dir);

// <run_dir>/checkpoints/step-<step>, whether or not it exists.
std::string checkpoint_folder(const std::string& run_dir, int64_t step);

// The step a checkpoint folder's name (step-<step>) gives, or -1 for another name.
int64_t checkpoint_folder_step(const std::string& folder);

}  // namespace cohort
