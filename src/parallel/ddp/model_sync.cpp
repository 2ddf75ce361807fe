#include "parallel/ddp/model_sync.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include <algorithm>
#include <cstring>

#include "cohort/error.h"

namespace cohort::ddp {
namespace {

std::string join_lines(const std::vector<std::string>& lines) {
  std::string text;
  for (const auto& line : lines) text += line + "\n";
  return text;
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  size_t start = 0;
  for (size_t end; (end = text.find('\n', start)) != std::string::npos; start = end + 1) {
    lines.push_back(text.substr(start, end - start));
  }
  return lines;
}

// Each rank's description as text; lengths first so every rank can pad to
// the longest (allgather needs equal shapes).
std::vector<std::string> allgather_text(Communicator& comm, const std::string& text) {
  at::Tensor length = at::full({1}, static_cast<int64_t>(text.size()), at::kLong);
  std::vector<at::Tensor> lengths = comm.allgather(length);
  int64_t longest = 0;
  for (const auto& l : lengths) longest = std::max(longest, l.item<int64_t>());
  at::Tensor bytes = at::zeros({std::max<int64_t>(longest, 1)}, at::kByte);
  std::memcpy(bytes.data_ptr<uint8_t>(), text.data(), text.size());
  std::vector<at::Tensor> all = comm.allgather(bytes);
  std::vector<std::string> texts;
  for (size_t r = 0; r < all.size(); ++r) {
    texts.emplace_back(reinterpret_cast<const char*>(all[r].data_ptr<uint8_t>()),
                       static_cast<size_t>(lengths[r].item<int64_t>()));
  }
  return texts;
}

}  // namespace

std::vector<std::string> describe_module(const torch::nn::Module& module) {
  std::vector<std::string> lines;
  for (const auto& item : module.named_parameters(/*recurse=*/true)) {
    lines.push_back(fmt::format("parameter '{}' {} {}{}", item.key(), item.value().sizes(),
                                c10::toString(item.value().scalar_type()),
                                item.value().requires_grad() ? "" : " (frozen)"));
  }
  for (const auto& item : module.named_buffers(/*recurse=*/true)) {
    lines.push_back(fmt::format("buffer '{}' {} {}", item.key(), item.value().sizes(),
                                c10::toString(item.value().scalar_type())));
  }
  return lines;
}

void check_same_model(Communicator& comm, const std::vector<std::string>& description) {
  std::vector<std::string> texts = allgather_text(comm, join_lines(description));
  const std::vector<std::string> reference = split_lines(texts.front());
  for (size_t r = 1; r < texts.size(); ++r) {
    if (texts[r] == texts.front()) continue;
    const std::vector<std::string> other = split_lines(texts[r]);
    size_t i = 0;
    while (i < reference.size() && i < other.size() && reference[i] == other[i]) ++i;
    const std::string mine = i < reference.size() ? reference[i] : "nothing";
    const std::string theirs = i < other.size() ? other[i] : "nothing";
    throw InputError(fmt::format(
        "DistributedDataParallel: rank {} has a different model from rank 0 at entry {}: rank 0 "
        "has {}, rank {} has {}; every rank must build the same model",
        r, i, mine, r, theirs));
  }
}

void broadcast_from(Communicator& comm, const std::vector<at::Tensor>& tensors, int root) {
  torch::NoGradGuard no_grad;
  std::vector<at::ScalarType> types;
  for (const auto& t : tensors) {
    if (std::find(types.begin(), types.end(), t.scalar_type()) == types.end()) {
      types.push_back(t.scalar_type());
    }
  }
  for (at::ScalarType type : types) {
    std::vector<at::Tensor> group;
    for (const auto& t : tensors) {
      if (t.scalar_type() == type) group.push_back(t);
    }
    std::vector<at::Tensor> flat_parts;
    for (const auto& t : group) flat_parts.push_back(t.reshape({-1}));
    at::Tensor flat = at::cat(flat_parts);
    comm.broadcast(flat, root);
    int64_t offset = 0;
    for (auto& t : group) {
      t.copy_(flat.narrow(0, offset, t.numel()).view(t.sizes()));
      offset += t.numel();
    }
  }
}

}  // namespace cohort::ddp
