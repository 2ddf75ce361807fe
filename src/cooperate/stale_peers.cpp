#include "cohort/stale_peers.h"

#include <ATen/CPUGeneratorImpl.h>
#include <fmt/format.h>
#include <torch/torch.h>

#include <string>

#include "cohort/error.h"

namespace cohort {
namespace {

// Parameters then floating buffers: the order both ends of an exchange agree on.
std::vector<at::Tensor> state_tensors(const torch::nn::Module& model) {
  std::vector<at::Tensor> tensors = model.parameters();
  for (const at::Tensor& b : model.buffers())
    if (b.is_floating_point()) tensors.push_back(b);
  return tensors;
}

}  // namespace

at::Tensor pack_state(const torch::nn::Module& model) {
  std::vector<at::Tensor> flat;
  for (const at::Tensor& t : state_tensors(model)) flat.push_back(t.detach().reshape(-1));
  if (flat.empty()) throw InputError("pack_state: model " + model.name() + " has no parameters");
  return torch::cat(flat);
}

void unpack_state(const at::Tensor& packed, torch::nn::Module& model) {
  const std::vector<at::Tensor> tensors = state_tensors(model);
  int64_t numel = 0;
  for (const at::Tensor& t : tensors) numel += t.numel();
  if (packed.dim() != 1 || packed.numel() != numel)
    throw InputError("unpack_state: packed state has " + std::to_string(packed.numel()) +
                     " elements but model " + model.name() + " needs " + std::to_string(numel) +
                     "; both ends must build the same architecture");
  if (!tensors.empty() && packed.scalar_type() != tensors.front().scalar_type())
    throw InputError(std::string("unpack_state: packed state is ") +
                     c10::toString(packed.scalar_type()) + " but the model's parameters are " +
                     c10::toString(tensors.front().scalar_type()));
  torch::NoGradGuard no_grad;
  int64_t offset = 0;
  for (const at::Tensor& t : tensors) {
    t.copy_(packed.narrow(0, offset, t.numel()).view(t.sizes()));
    offset += t.numel();
  }
}

namespace {

// A deep copy of the architecture; its weights are overwritten at the first refresh.
std::shared_ptr<torch::nn::SequentialImpl> copy_of(
    const torch::nn::Sequential& prototype, const std::function<torch::nn::Sequential()>& build) {
  try {
    return std::dynamic_pointer_cast<torch::nn::SequentialImpl>(prototype->clone());
  } catch (const c10::Error& e) {
    if (!build) {
      throw InputError(fmt::format(
          "codistillation keeps copies of the peers, and one of their modules cannot be cloned "
          "({}): derive it from torch::nn::Cloneable<T>",
          std::string(e.what_without_backtrace()).substr(0, 120)));
    }
  }
  // Drawn under a saved generator state: the copy's initial weights are never
  // used, and must not move the random stream the run goes on with.
  at::Generator gen = at::detail::getDefaultCPUGenerator();
  const at::Tensor state = gen.get_state();
  torch::nn::Sequential built = build();
  gen.set_state(state);
  return built.ptr();
}

}  // namespace

StalePeerCache::StalePeerCache(const torch::nn::Sequential& prototype, int num_peers,
                               int64_t refresh_interval,
                               const std::function<torch::nn::Sequential()>& build)
    : refreshed_at_(num_peers < 0 ? 0 : num_peers, -1), refresh_interval_(refresh_interval) {
  if (num_peers < 1)
    throw InputError("StalePeerCache: need at least one peer, got " + std::to_string(num_peers));
  if (refresh_interval < 1)
    throw InputError("StalePeerCache: refresh interval must be >= 1 step, got " +
                     std::to_string(refresh_interval));
  for (int p = 0; p < num_peers; ++p) {
    auto copy = copy_of(prototype, build);
    for (at::Tensor& param : copy->parameters()) param.set_requires_grad(false);
    copy->eval();
    peers_.emplace_back(copy);
  }
}

void StalePeerCache::refresh(int peer, const at::Tensor& packed_state, int64_t step) {
  if (peer < 0 || peer >= num_peers())
    throw InputError("StalePeerCache::refresh: peer " + std::to_string(peer) +
                     " out of range [0, " + std::to_string(num_peers()) + ")");
  unpack_state(packed_state, *peers_[peer]);
  refreshed_at_[peer] = step;
}

std::vector<at::Tensor> StalePeerCache::logits(const at::Tensor& inputs) {
  torch::NoGradGuard no_grad;
  std::vector<at::Tensor> out;
  for (int p = 0; p < num_peers(); ++p) {
    if (refreshed_at_[p] < 0)
      throw Error("StalePeerCache: peer " + std::to_string(p) +
                  " has no weights yet; call refresh() at step 0 before asking for logits");
    out.push_back(peers_[p]->forward(inputs));
  }
  return out;
}

int64_t StalePeerCache::refreshed_at(int peer) const {
  if (peer < 0 || peer >= num_peers())
    throw InputError("StalePeerCache::refreshed_at: peer " + std::to_string(peer) +
                     " out of range [0, " + std::to_string(num_peers()) + ")");
  return refreshed_at_[peer];
}

}  // namespace cohort
