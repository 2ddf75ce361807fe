#include "train/engines/stage_state.h"

#include <fmt/format.h>
#include <torch/serialize.h>

#include <algorithm>
#include <map>

#include "cohort/error.h"
#include "cohort/messages.h"
#include "cohort/network_state.h"
#include "parallel/common/serialized_state.h"

namespace cohort {
namespace {

std::string first_component(const std::string& name) { return name.substr(0, name.find('.')); }

}  // namespace

std::vector<int> owning_stages(const NamedTensors& state, const torch::nn::Sequential& model,
                               const Partition& partition) {
  std::map<std::string, int64_t> layer_of_child;
  const auto children = model->named_children();
  for (size_t i = 0; i < children.size(); ++i) layer_of_child[children[i].key()] = int64_t(i);
  std::vector<std::string> parameter_names;
  for (const auto& p : model->named_parameters()) parameter_names.push_back(p.key());

  auto stage_of_layer = [&](int64_t layer) {
    const auto it = std::upper_bound(partition.bounds.begin(), partition.bounds.end(), layer);
    return int(it - partition.bounds.begin()) - 1;
  };
  auto stage_of_member = [&](const std::string& entry, const std::string& member) {
    const auto it = layer_of_child.find(first_component(member));
    if (it == layer_of_child.end()) {
      throw Error(fmt::format("pipeline state: '{}' belongs to no layer of the model", entry));
    }
    return stage_of_layer(it->second);
  };

  std::vector<int> owners;
  owners.reserve(state.size());
  for (const auto& [name, tensor] : state) {
    const std::string kind = first_component(name);
    const std::string rest = name.substr(kind.size() + 1);
    if (kind == "param" || kind == "buffer") {
      owners.push_back(stage_of_member(name, rest));
    } else if (kind == "optim") {
      const size_t index = std::stoul(first_component(rest));
      if (index >= parameter_names.size()) {
        throw Error(fmt::format("pipeline state: '{}' names parameter {} of {}", name, index,
                                parameter_names.size()));
      }
      owners.push_back(stage_of_member(name, parameter_names[index]));
    } else {
      throw Error(fmt::format("pipeline state: unknown entry '{}'", name));
    }
  }
  return owners;
}

NamedTensors capture_serialized_optimizer_state(const torch::nn::Module& model,
                                                const torch::optim::Optimizer& optimizer) {
  NamedTensors out;
  const auto params = model.parameters();
  for (size_t i = 0; i < params.size(); ++i) {
    const torch::optim::OptimizerParamState* state = param_state(optimizer, params[i]);
    if (state == nullptr) continue;
    for (auto& entry :
         entries_as_tensors(state_entries(*state), fmt::format("optim.{}.", i), "pipeline state"))
      out.push_back(std::move(entry));
  }
  return out;
}

void restore_serialized_optimizer_state(const torch::nn::Module& model,
                                        torch::optim::Optimizer& optimizer,
                                        const NamedTensors& entries) {
  std::map<size_t, NamedTensors> by_parameter;
  for (const auto& [name, tensor] : entries) {
    const std::string rest = name.substr(name.find('.') + 1);  // past "optim."
    by_parameter[std::stoul(first_component(rest))].emplace_back(rest.substr(rest.find('.') + 1),
                                                                 tensor);
  }
  if (by_parameter.empty()) return;
  if (optimizer.state().empty())
    throw Error(
        "pipeline state: the first stage's optimiser holds no state to copy the other stages' "
        "into (does its stage train no parameter?)");
  // Copied before any is replaced: the map's first entry may be one of them.
  const auto like = optimizer.state().begin()->second->clone();
  const auto params = model.parameters();
  for (const auto& [index, named] : by_parameter) {
    if (index >= params.size())
      throw Error(fmt::format("pipeline state: optimiser entries for parameter {} of {}", index,
                              params.size()));
    optimizer.state()[params[index].unsafeGetTensorImpl()] =
        state_from_entries(*like, entries_from_tensors(named), "pipeline state");
  }
}

void send_tensors(Communicator& comm, const NamedTensors& tensors, int dst, int tag) {
  c10::impl::GenericDict dict(c10::StringType::get(), c10::TensorType::get());
  for (const auto& [name, tensor] : tensors) dict.insert(name, tensor.detach().contiguous());
  const std::vector<char> bytes = torch::pickle_save(dict);
  send_bytes(comm, std::string(bytes.begin(), bytes.end()), dst, tag);
}

NamedTensors recv_tensors(Communicator& comm, int src, int tag) {
  const std::string bytes = recv_bytes(comm, src, tag);
  const auto dict = torch::pickle_load(std::vector<char>(bytes.begin(), bytes.end())).toGenericDict();
  NamedTensors out;
  out.reserve(dict.size());
  for (const auto& entry : dict) out.emplace_back(entry.key().toStringRef(), entry.value().toTensor());
  return out;
}

}  // namespace cohort
