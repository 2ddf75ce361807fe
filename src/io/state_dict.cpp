#include "cohort/state_dict.h"

#include <caffe2/serialize/inline_container.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/csrc/jit/serialization/unpickler.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string_view>

#include "cohort/error.h"
#include "io/input_file.h"

namespace cohort {
namespace {

std::string shape_text(const std::vector<int64_t>& shape) {
  return shape.empty() ? "a scalar" : fmt::format("{}", fmt::join(shape, "x"));
}

std::vector<TensorShape> shapes_of(const NamedTensors& tensors) {
  std::vector<TensorShape> out;
  for (const auto& [name, t] : tensors) out.push_back({name, t.sizes().vec()});
  return out;
}

}  // namespace

namespace {

// The bytes after a protocol-2 opcode that belong to it, or npos for an opcode
// outside what torch.save writes at protocol 2.
size_t argument_bytes(const std::string& p, size_t at) {
  auto length = [&](size_t width) {  // little-endian unsigned length of `width` bytes
    size_t n = 0;
    for (size_t i = 0; i < width && at + 1 + i < p.size(); ++i)
      n |= size_t(uint8_t(p[at + 1 + i])) << (8 * i);
    return n;
  };
  switch (p[at]) {
    case 'q':
    case 'h':
    case 'K':
    case '\x80':
      return 1;
    case 'M':
      return 2;
    case 'J':
    case 'r':
    case 'j':
      return 4;
    case 'G':
      return 8;
    case 'X':
    case 'T':
    case 'B':
      return 4 + length(4);
    case 'U':
    case 'C':
    case '\x8a':
      return 1 + length(1);
    case '\x8b':
      return 4 + length(4);
    case 'c': {
      const size_t module_end = p.find('\n', at + 1);
      const size_t name_end =
          module_end == std::string::npos ? module_end : p.find('\n', module_end + 1);
      return name_end == std::string::npos ? name_end : name_end - at;
    }
    case '(':
    case ')':
    case ']':
    case '}':
    case 'N':
    case '\x88':
    case '\x89':
    case 'R':
    case 'a':
    case 'e':
    case 's':
    case 'u':
    case 't':
    case 'b':
    case 'd':
    case 'l':
    case '\x85':
    case '\x86':
    case '\x87':
    case 'Q':
    case '.':
      return 0;
    default:
      return std::string::npos;
  }
}

// How an opcode changes the stack height; MARK-consuming opcodes are handled by
// the caller.
int height_change(char op) {
  switch (op) {
    case 'q':
    case 'r':
    case 'Q':
    case '\x85':
    case '\x80':
      return 0;  // BINPUT, BINPERSID, TUPLE1
    case 'R':
    case 'a':
    case 'b':
    case '\x86':
      return -1;  // REDUCE, APPEND, BUILD, TUPLE2
    case 's':
    case '\x87':
      return -2;  // SETITEM, TUPLE3
    default:
      return 1;  // the opcodes that push one value
  }
}

// The bytes a length-prefixed opcode's length field claims, little-endian.
uint64_t claimed_length(const std::string& p, size_t at, size_t width) {
  uint64_t n = 0;
  for (size_t i = 0; i < width; ++i) n |= uint64_t(uint8_t(p[at + 1 + i])) << (8 * i);
  return n;
}

}  // namespace

std::string pickle_length_problem(const std::string& p) {
  for (size_t at = 0; at < p.size();) {
    const char op = p[at];
    const size_t left = p.size() - at - 1;  // bytes after the opcode
    size_t width = 0, fixed = 0;            // a length field's width; or fixed argument bytes
    switch (op) {
      case '.':
        return "";  // STOP
      case 'K':
      case 'h':
      case 'q':
      case '\x80':
      case '\x82':
        fixed = 1;
        break;
      case 'M':
      case '\x83':
        fixed = 2;
        break;
      case 'r':  // LONG_BINPUT: libtorch sizes its memo table to the index it names
        if (left >= 4 && claimed_length(p, at, 4) >= p.size()) {
          return fmt::format(
              "the memo index at byte {} is {}, more than a pickle of {} bytes "
              "can hold",
              at, claimed_length(p, at, 4), p.size());
        }
        fixed = 4;
        break;
      case 'J':
      case 'j':
      case '\x84':
        fixed = 4;
        break;
      case 'G':
      case '\x95':
        fixed = 8;
        break;
      case 'U':
      case 'C':
      case '\x8a':
      case '\x8c':
        width = 1;
        break;
      case 'X':
      case 'T':
      case 'B':
      case '\x8b':
        width = 4;
        break;
      case '\x8d':
      case '\x8e':
      case '\x96':
        width = 8;
        break;
      case 'F':
      case 'I':
      case 'L':
      case 'S':
      case 'V':
      case 'g':
      case 'p':
      case 'P':
      case 'c':
      case 'i': {  // newline-terminated arguments: one line, two for c and i
        size_t end = p.find('\n', at + 1);
        if (end != std::string::npos && (op == 'c' || op == 'i')) end = p.find('\n', end + 1);
        if (end == std::string::npos) return fmt::format("an argument at byte {} has no end", at);
        at = end + 1;
        continue;
      }
      default:
        if (std::string_view("(012NQRabd}el]ostu)").find(op) == std::string_view::npos &&
            !(uint8_t(op) >= 0x81 && uint8_t(op) <= 0x98)) {
          return fmt::format("byte {} is not a pickle opcode (0x{:02x})", at, uint8_t(op));
        }
    }
    if (width > 0) {
      if (width > left) return fmt::format("the pickle ends inside the opcode at byte {}", at);
      const uint64_t n = claimed_length(p, at, width);
      if (n > left - width) {
        return fmt::format("the opcode at byte {} claims {} bytes, but {} follow", at, n,
                           left - width);
      }
      fixed = width + size_t(n);
    }
    if (fixed > left) return fmt::format("the pickle ends inside the opcode at byte {}", at);
    at += 1 + fixed;
  }
  return "the pickle has no STOP";
}

std::optional<std::string> ordered_dict_pickle_for_libtorch(const std::string& pickle) {
  // PROTO 2, GLOBAL 'collections OrderedDict', an optional BINPUT n / LONG_BINPUT n
  // (the class, memoised for the nested OrderedDicts), EMPTY_TUPLE, REDUCE.
  const std::string head = std::string("\x80\x02", 2) + "ccollections\nOrderedDict\n";
  if (pickle.rfind(head, 0) != 0) return std::nullopt;
  size_t put = head.size();
  if (put < pickle.size() && pickle[put] == 'q')
    put += 2;
  else if (put < pickle.size() && pickle[put] == 'r')
    put += 5;
  if (put + 2 > pickle.size() || pickle.compare(put, 2, ")R") != 0) return std::nullopt;
  // EMPTY_LIST, the class and its BINPUT, APPEND (the list swallows the class),
  // EMPTY_DICT in place of OrderedDict(): the stack holds [list, dict].
  std::string out = "\x80\x02]" + pickle.substr(2, put - 2) + "a}";
  // The items follow as they were, down to the OrderedDict's state (the dict of
  // its _metadata, whose own OrderedDicts libtorch cannot fill) or STOP.
  std::vector<size_t> marks;  // stack heights at each open MARK
  size_t height = 2;
  for (size_t at = put + 2; at < pickle.size();) {
    const char op = pickle[at];
    if (height == 2 && marks.empty() && (op == '}' || op == '.')) break;
    const size_t args = argument_bytes(pickle, at);
    if (args == std::string::npos || at + 1 + args > pickle.size()) return std::nullopt;
    if (op == '(') {
      marks.push_back(height);
    } else if (op == 'u' || op == 'e' || op == 't' || op == 'd' || op == 'l') {
      if (marks.empty()) return std::nullopt;
      height = marks.back() + (op == 'u' || op == 'e' ? 0 : 1);
      marks.pop_back();
    } else {
      const int change = height_change(op);
      if (int64_t(height) + change < 0) return std::nullopt;
      height = size_t(int64_t(height) + change);
    }
    out.append(pickle, at, 1 + args);
    at += 1 + args;
  }
  return out + "\x86.";  // TUPLE2 (list, dict), STOP
}

c10::IValue unpickle(const std::string& pickle,
                     std::function<at::DataPtr(const std::string&)> read_record, uint64_t version) {
  size_t offset = 0;
  torch::jit::Unpickler unpickler(
      [&](char* out, size_t n) {
        n = std::min(n, pickle.size() - offset);
        std::memcpy(out, pickle.data() + offset, n);
        offset += n;
        return n;
      },
      nullptr, nullptr, std::move(read_record), c10::Device(c10::kCPU));
  unpickler.set_version(version);
  return unpickler.parse_ivalue();
}

NamedTensors parse_state_dict(const std::vector<char>& bytes, const std::string& origin) {
  return parse_named_tensors(bytes, origin, "torch.save(model.state_dict(), path), not the model");
}

NamedTensors parse_named_tensors(const std::vector<char>& bytes, const std::string& origin,
                                 const std::string& how_to_save) {
  // torch.save has written a zip archive ("PK" first) since torch 1.6; the older
  // format needs Python's unpickler.
  if (bytes.size() < 4 || bytes[0] != 'P' || bytes[1] != 'K')
    throw InputError(fmt::format(
        "{}: not a torch.save zip archive; write it with {} (torch 1.6 or later, without "
        "_use_new_zipfile_serialization=False)",
        origin, how_to_save));
  c10::IValue root;
  // The bytes each storage record really holds: libtorch's unpickler sizes a
  // storage by the element count the pickle declares, not by its record.
  std::map<const void*, size_t> record_bytes;
  try {
    std::istringstream stream(std::string(bytes.begin(), bytes.end()));
    caffe2::serialize::PyTorchStreamReader archive(&stream);
    auto [data, size] = archive.getRecord("data.pkl");
    const std::string original(static_cast<const char*>(data.get()), size);
    // libtorch's unpickler reserves whatever a length field claims before reading.
    const std::string problem = pickle_length_problem(original);
    if (!problem.empty()) throw std::runtime_error("data.pkl: " + problem);
    const auto rewritten = ordered_dict_pickle_for_libtorch(original);
    const std::string& pickle = rewritten ? *rewritten : original;
    root = unpickle(
        pickle,
        [&](const std::string& record) {
          auto [ptr, size] = archive.getRecord("data/" + record);
          record_bytes[ptr.get()] = size;
          return std::move(ptr);
        },
        archive.version());
    if (rewritten) root = root.toTupleRef().elements().at(1);
  } catch (const std::exception& e) {
    // The reader's first sentence says what failed; the rest is advice for Python users.
    std::string what = e.what();
    what = what.substr(0, std::min(what.find('\n'), what.find(". ")));
    throw InputError(
        fmt::format("{}: cannot be read ({}): write it with {}", origin, what, how_to_save));
  }
  if (!root.isGenericDict())
    throw InputError(fmt::format("{}: holds a {}, not a dict of named tensors: write it with {}",
                                 origin, root.tagKind(), how_to_save));
  NamedTensors out;
  for (const auto& item : root.toGenericDict()) {
    if (!item.key().isString())
      throw InputError(
          fmt::format("{}: a state_dict key is a {}, not a name", origin, item.key().tagKind()));
    const std::string name = item.key().toStringRef();
    if (!item.value().isTensor())
      throw InputError(
          fmt::format("{}: '{}' is a {}, not a tensor (is it a whole checkpoint "
                      "rather than model.state_dict()?)",
                      origin, name, item.value().tagKind()));
    const at::Tensor tensor = item.value().toTensor();
    const auto record = record_bytes.find(tensor.storage().data());
    if (tensor.storage().nbytes() > 0 &&
        (record == record_bytes.end() || tensor.storage().nbytes() > record->second)) {
      throw InputError(
          fmt::format("{}: '{}' declares {} bytes of data but its record holds {}: "
                      "the file is corrupt",
                      origin, name, tensor.storage().nbytes(),
                      record == record_bytes.end() ? 0 : record->second));
    }
    out.emplace_back(name, tensor);
  }
  return out;
}

NamedTensors read_state_dict(const std::string& path) {
  return parse_state_dict(read_input_file(path), path);
}

std::string state_dict_mismatch(const std::vector<TensorShape>& model,
                                const std::vector<TensorShape>& file) {
  std::map<std::string, const TensorShape*> in_file, in_model;
  for (const auto& t : file) in_file.emplace(t.name, &t);
  for (const auto& t : model) in_model.emplace(t.name, &t);
  for (const auto& t : model)
    if (!in_file.count(t.name))
      return fmt::format(
          "has no '{}' ({}), which the model has; the names must be the "
          "equivalent PyTorch model's (examples/python/cohort_models.py)",
          t.name, shape_text(t.shape));
  for (const auto& t : model) {
    const auto& saved = in_file.at(t.name)->shape;
    if (saved != t.shape)
      return fmt::format("'{}' has shape {} in the file but {} in the model", t.name,
                         shape_text(saved), shape_text(t.shape));
  }
  for (const auto& t : file)
    if (!in_model.count(t.name))
      return fmt::format("holds '{}' ({}), which the model does not have", t.name,
                         shape_text(t.shape));
  return "";
}

std::vector<TensorShape> tensor_shapes(const torch::nn::Module& model) {
  std::vector<TensorShape> out;
  for (const auto& p : model.named_parameters()) out.push_back({p.key(), p.value().sizes().vec()});
  for (const auto& b : model.named_buffers()) out.push_back({b.key(), b.value().sizes().vec()});
  return out;
}

void load_state_dict(torch::nn::Module& model, const NamedTensors& state,
                     const std::string& origin) {
  const std::string mismatch = state_dict_mismatch(tensor_shapes(model), shapes_of(state));
  if (!mismatch.empty()) throw InputError(fmt::format("{}: {}", origin, mismatch));
  const std::map<std::string, at::Tensor> by_name(state.begin(), state.end());
  at::NoGradGuard no_grad;
  for (auto& p : model.named_parameters()) p.value().copy_(by_name.at(p.key()));
  for (auto& b : model.named_buffers()) b.value().copy_(by_name.at(b.key()));
}

}  // namespace cohort
