#include "train/stage_state.h"

#include <fmt/format.h>
#include <torch/serialize.h>

#include <algorithm>
#include <map>

#include "cohort/error.h"

namespace cohort {
namespace {

// Larger than any model here by orders of magnitude, small enough that a
// corrupted size cannot make the receiver allocate the machine away.
constexpr int64_t kMaxMessageBytes = int64_t(16) << 30;

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
  std::vector<char> bytes = torch::pickle_save(dict);
  at::Tensor size = at::scalar_tensor(int64_t(bytes.size()), at::kLong).reshape({1});
  comm.send(size, dst, tag);
  at::Tensor payload = at::from_blob(bytes.data(), {int64_t(bytes.size())}, at::kByte);
  comm.send(payload, dst, tag);
}

NamedTensors recv_tensors(Communicator& comm, int src, int tag) {
  at::Tensor size = at::zeros({1}, at::kLong);
  comm.recv(size, src, tag);
  const int64_t n = size.item<int64_t>();
  if (n <= 0 || n > kMaxMessageBytes) {
    throw CommError(fmt::format("pipeline state from rank {}: message of {} bytes is impossible "
                                "(a mismatched peer or a corrupted message)", src, n));
  }
  at::Tensor payload = at::empty({n}, at::kByte);
  comm.recv(payload, src, tag);
  const auto* data = static_cast<const char*>(payload.data_ptr());
  const auto dict = torch::pickle_load(std::vector<char>(data, data + n)).toGenericDict();
  NamedTensors out;
  out.reserve(dict.size());
  for (const auto& entry : dict) out.emplace_back(entry.key().toStringRef(), entry.value().toTensor());
  return out;
}

}  // namespace cohort
