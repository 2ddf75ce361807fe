// A program's own models, datasets and optimisers, named like the built-in ones.
// Register them first thing in main(), before run_command_line() or train(); a
// config then says `network.N.model = "my_net"`, `data.format = "my_data"` or
// `network.N.optimizer = "my_opt"`, and `--help` lists them. Registration is not
// thread-safe: it belongs to start-up.
#pragma once

#include <torch/nn/modules/container/sequential.h>
#include <torch/optim/optimizer.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "cohort/config.h"
#include "cohort/data.h"
#include "cohort/models.h"

namespace cohort {

// Builds a freshly initialised network for `spec`: spec.input_shape and
// spec.num_classes come from the data, spec.widths and spec.channels from the
// config. The network is a Sequential so pipelines can cut it into stages; a
// model that is one module goes in whole: `return torch::nn::Sequential(MyNet(...));`
// (its forward must map one tensor to one tensor). Drawn under the network's
// seed, on the CPU.
using ModelBuilder = std::function<torch::nn::Sequential(const ModelSpec& spec)>;

// Loads both splits of a dataset; the [data] table's keys (path, train, test,
// target, size, mean, std) are the loader's to interpret. Errors: InputError
// naming the file and what is wrong (the CLI prints it on one line, exit 2).
using DatasetLoader = std::function<Splits(const DataSource& source)>;

// Makes a network's optimiser over `parameters` (on the network's device); the
// network's config (lr, momentum, weight_decay, ...) is the builder's to read.
// The trainer sets each step's learning rate through the param groups'
// options().set_lr(), so the options must have one (every torch::optim
// optimiser's do). Checkpoints, resume and PBT keep the optimiser's state through
// its save() and load() (torch::optim's optimisers have them; an optimiser of
// one's own writes them, or its state is not kept).
using OptimizerBuilder = std::function<std::unique_ptr<torch::optim::Optimizer>(
    std::vector<at::Tensor> parameters, const NetworkConfig& network)>;

// Error when the name is empty, built in, or already registered.
void register_model(const std::string& name, ModelBuilder build);
void register_dataset(const std::string& name, DatasetLoader load);
void register_optimizer(const std::string& name, OptimizerBuilder build);

// The registered names, in registration order (the built-in ones are not among them).
std::vector<std::string> registered_models();
std::vector<std::string> registered_datasets();
std::vector<std::string> registered_optimizers();

}  // namespace cohort
