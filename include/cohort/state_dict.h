// PyTorch state_dicts in: the file `torch.save(model.state_dict(), path)` writes,
// loaded into a Cohort model of the same architecture. The zoo's parameter and
// buffer names are those of the equivalent nn.Sequential ("1.weight",
// "3.conv1.weight", "1.running_mean"; examples/python/cohort_models.py builds
// them), so a state_dict moves between the two without renaming. The way out is a
// checkpoint's state.pt, which torch.load opens (cohort/checkpoint.h).
#pragma once

#include <torch/nn/module.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "cohort/checkpoint.h"

namespace cohort {

// Reads a torch.save file of {name: tensor} (an OrderedDict from
// Module.state_dict(), or a plain dict). InputError naming the file when it cannot
// be read, is not a torch.save zip archive, or holds anything else (a whole
// pickled nn.Module, a dict of dicts, a value that is not a tensor).
NamedTensors read_state_dict(const std::string& path);

// The same on the file's bytes; `origin` names it in errors.
NamedTensors parse_state_dict(const std::vector<char>& bytes, const std::string& origin);

// Any torch.save file of {name: tensor} (tensor files of data too); errors end by
// saying how to write one, `how_to_save` (e.g. "torch.save(model.state_dict(), path)").
NamedTensors parse_named_tensors(const std::vector<char>& bytes, const std::string& origin,
                                 const std::string& how_to_save);

// Pure: the pickle of torch.save(state_dict) rewritten for libtorch's C++
// unpickler, which reads collections.OrderedDict as None (it expects one only as
// _rebuild_tensor_v2's unused backward_hooks) and has no POP. The class goes into a
// list, `OrderedDict()` becomes an empty dict, and the BUILD that would set its
// _metadata becomes a tuple: the root is then (list, dict[, metadata]), the dict
// element 1. nullopt when the pickle's root is not an OrderedDict (a plain dict).
std::optional<std::string> ordered_dict_pickle_for_libtorch(const std::string& pickle);

// Pure: "" when every length-prefixed opcode of `pickle` claims no more bytes than
// follow it, and every memo index is below the pickle's length (memo entries are
// numbered from 0, one per put opcode), up to its STOP; otherwise what is wrong.
// libtorch's unpickler allocates what a length or an index claims before it
// reads, so a 300-byte file claiming a 1.5 GB string, or memo entry 700 million,
// would cost gigabytes.
std::string pickle_length_problem(const std::string& pickle);

// A bare pickle through libtorch's unpickler, each tensor's storage read from
// `read_record` (the archive's "data/<key>"; none is needed without tensors), as
// the archive of format `version` says. Throws what the unpickler throws.
c10::IValue unpickle(const std::string& pickle,
                     std::function<at::DataPtr(const std::string&)> read_record = nullptr,
                     uint64_t version = 2);

// One (name, shape) of a model's parameters and buffers, or of a state_dict.
struct TensorShape {
  std::string name;
  std::vector<int64_t> shape;
};

// Pure: what load_state_dict(strict=True) would refuse, as one line, or "" when
// `file` holds exactly the names of `model` with the same shapes. The first
// mismatch is named: a name of the model missing from the file (in the model's
// order), then a shape that differs, then a name the model does not have.
std::string state_dict_mismatch(const std::vector<TensorShape>& model,
                                const std::vector<TensorShape>& file);

// The parameters then buffers of `model`, named as named_parameters() and
// named_buffers() name them.
std::vector<TensorShape> tensor_shapes(const torch::nn::Module& model);

// Copies `state` into every parameter and buffer of `model` in place, after the
// checks of state_dict_mismatch; InputError "<origin>: <mismatch>" otherwise.
// Values are converted to each tensor's dtype and device.
void load_state_dict(torch::nn::Module& model, const NamedTensors& state,
                     const std::string& origin);

}  // namespace cohort
