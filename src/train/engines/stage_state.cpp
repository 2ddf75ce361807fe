#include "train/engines/stage_state.h"

#include <fmt/format.h>
#include <torch/serialize.h>

#include <algorithm>
#include <map>

#include "cohort/error.h"
#include "cohort/messages.h"

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
