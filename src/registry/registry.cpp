#include <fmt/format.h>

#include <algorithm>
#include <utility>

#include "cohort/error.h"
#include "cohort/optim.h"
#include "registry/lookup.h"

namespace cohort {
namespace {

// Registration order is kept: --help lists names as the program added them.
template <class Factory>
using Entries = std::vector<std::pair<std::string, Factory>>;

Entries<ModelBuilder>& models() {
  static Entries<ModelBuilder> entries;
  return entries;
}

Entries<DatasetLoader>& datasets() {
  static Entries<DatasetLoader> entries;
  return entries;
}

Entries<OptimizerBuilder>& optimizers() {
  static Entries<OptimizerBuilder> entries;
  return entries;
}

const std::vector<std::string>& builtin_formats() {
  static const std::vector<std::string> formats = {"idx", "tensors", "images", "csv"};
  return formats;
}

template <class Factory>
const Factory* find(const Entries<Factory>& entries, const std::string& name) {
  for (const auto& [n, factory] : entries)
    if (n == name) return &factory;
  return nullptr;
}

template <class Factory>
std::vector<std::string> names(const Entries<Factory>& entries) {
  std::vector<std::string> out;
  for (const auto& entry : entries) out.push_back(entry.first);
  return out;
}

// A name must be one a config can write and no other meaning may hide it.
void check_new_name(const char* what, const std::string& name,
                    const std::vector<std::string>& taken, bool callable) {
  if (name.empty()) throw Error(fmt::format("register_{}: the name is empty", what));
  if (!callable) throw Error(fmt::format("register_{}('{}'): the function is empty", what, name));
  if (std::count(taken.begin(), taken.end(), name)) {
    throw Error(fmt::format("register_{}('{}'): that name is already taken", what, name));
  }
}

}  // namespace

void register_model(const std::string& name, ModelBuilder build) {
  check_new_name("model", name, model_names(), bool(build));
  models().emplace_back(name, std::move(build));
}

void register_dataset(const std::string& name, DatasetLoader load) {
  check_new_name("dataset", name, data_format_names(), bool(load));
  datasets().emplace_back(name, std::move(load));
}

void register_optimizer(const std::string& name, OptimizerBuilder build) {
  check_new_name("optimizer", name, optimizer_names(), bool(build));
  optimizers().emplace_back(name, std::move(build));
}

std::vector<std::string> registered_models() { return names(models()); }
std::vector<std::string> registered_datasets() { return names(datasets()); }
std::vector<std::string> registered_optimizers() { return names(optimizers()); }

std::vector<std::string> optimizer_names() {
  std::vector<std::string> out = {"sgd", "adam", "adamw"};
  for (const auto& name : registered_optimizers()) out.push_back(name);
  return out;
}

std::vector<std::string> data_format_names() {
  std::vector<std::string> out = builtin_formats();
  for (const auto& name : registered_datasets()) out.push_back(name);
  return out;
}

const ModelBuilder* registered_model(const std::string& name) { return find(models(), name); }
const DatasetLoader* registered_dataset(const std::string& name) { return find(datasets(), name); }
const OptimizerBuilder* registered_optimizer(const std::string& name) {
  return find(optimizers(), name);
}

}  // namespace cohort
