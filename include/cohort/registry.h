// A program's own models and datasets, named like the built-in ones. Register
// them first thing in main(), before run_command_line() or train(); a config then
// says `network.N.model = "my_net"` or `data.format = "my_data"`, and `--help`
// lists them. Registration is not thread-safe: it belongs to start-up.
#pragma once

#include <torch/nn/modules/container/sequential.h>

#include <functional>
#include <string>
#include <vector>

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

// Error when the name is empty, built in, or already registered.
void register_model(const std::string& name, ModelBuilder build);
void register_dataset(const std::string& name, DatasetLoader load);

// The registered names, in registration order (the built-in ones are not among them).
std::vector<std::string> registered_models();
std::vector<std::string> registered_datasets();

}  // namespace cohort
