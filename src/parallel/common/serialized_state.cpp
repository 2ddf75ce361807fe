#include "parallel/common/serialized_state.h"

#include <fmt/format.h>
#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>

#include <algorithm>
#include <sstream>

#include "cohort/error.h"

namespace cohort {
namespace {

// An OutputArchive cannot be read back in place: it goes through its bytes.
torch::serialize::InputArchive read_back(torch::serialize::OutputArchive& out) {
  std::ostringstream bytes;
  out.save_to(bytes);
  std::istringstream in(bytes.str());
  torch::serialize::InputArchive archive;
  archive.load_from(in);
  return archive;
}

}  // namespace

StateEntries state_entries(const torch::optim::OptimizerParamState& state) {
  torch::serialize::OutputArchive out;
  state.serialize(out);
  torch::serialize::InputArchive archive = read_back(out);
  StateEntries entries;
  for (const std::string& key : archive.keys()) {
    c10::IValue value;
    if (archive.try_read(key, value)) entries.emplace_back(key, std::move(value));
  }
  std::sort(entries.begin(), entries.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  return entries;
}

std::unique_ptr<torch::optim::OptimizerParamState> state_from_entries(
    const torch::optim::OptimizerParamState& like, const StateEntries& entries, const char* who) {
  torch::serialize::OutputArchive out;
  for (const auto& [key, value] : entries) out.write(key, value);
  torch::serialize::InputArchive archive = read_back(out);
  std::unique_ptr<torch::optim::OptimizerParamState> copy;
  try {
    copy = like.clone();
  } catch (const c10::Error&) {
    throw InputError(fmt::format(
        "{}: the optimiser's per-parameter state has no clone(); derive it from "
        "torch::optim::OptimizerCloneableParamState so its state can be split and gathered",
        who));
  }
  copy->serialize(archive);
  // An entry the copy kept from `like` but was not given (a momentum buffer
  // the other parameter's state has and this one's had not) would be wrong.
  for (const auto& [key, value] : state_entries(*copy)) {
    const bool given = std::any_of(entries.begin(), entries.end(),
                                   [&key = key](const auto& e) { return e.first == key; });
    if (!given)
      throw InputError(fmt::format(
          "{}: the optimiser's state entry '{}' was kept from another parameter's state; its "
          "parameters' states must have the same entries",
          who, key));
  }
  return copy;
}

std::vector<std::pair<std::string, at::Tensor>> entries_as_tensors(const StateEntries& entries,
                                                                   const std::string& prefix,
                                                                   const char* who) {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (const auto& [key, value] : entries) {
    if (value.isTensor())
      out.emplace_back(prefix + key, value.toTensor());
    else if (value.isInt())
      out.emplace_back(prefix + key + "@int", at::scalar_tensor(value.toInt(), at::kLong));
    else if (value.isDouble())
      out.emplace_back(prefix + key + "@double", at::scalar_tensor(value.toDouble(), at::kDouble));
    else if (value.isBool())
      out.emplace_back(prefix + key + "@bool", at::scalar_tensor(value.toBool(), at::kBool));
    else
      throw InputError(fmt::format(
          "{}: the optimiser's state entry '{}' is a {}; only tensors and single numbers can be "
          "moved between ranks",
          who, key, value.tagKind()));
  }
  return out;
}

StateEntries entries_from_tensors(const std::vector<std::pair<std::string, at::Tensor>>& tensors) {
  StateEntries entries;
  for (const auto& [name, t] : tensors) {
    const size_t at = name.rfind('@');
    const std::string type = at == std::string::npos ? "" : name.substr(at + 1);
    const std::string key = name.substr(0, at);
    if (type == "int")
      entries.emplace_back(key, t.item<int64_t>());
    else if (type == "double")
      entries.emplace_back(key, t.item<double>());
    else if (type == "bool")
      entries.emplace_back(key, t.item<bool>());
    else
      entries.emplace_back(name, t);
  }
  std::sort(entries.begin(), entries.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  return entries;
}

}  // namespace cohort
