#include "cohort/network_state.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/optim/adam.h>
#include <torch/optim/adamw.h>
#include <torch/optim/sgd.h>
#include <torch/serialize/archive.h>

#include <cstring>
#include <map>
#include <sstream>
#include <type_traits>

#include "cohort/error.h"

namespace cohort {
namespace {

// libtorch keys per-parameter optimiser state by the parameter's TensorImpl
// address: as a void* since torch 2.15, before that as that pointer printed to
// an ostream (what c10::guts::to_string did).
using StateKey = std::decay_t<decltype(std::declval<torch::optim::Optimizer&>().state())>::key_type;

template <typename Key = StateKey>  // a template, so the branch not taken is not compiled
Key state_key(const at::Tensor& p) {
  if constexpr (std::is_same_v<Key, std::string>) {
    std::ostringstream key;
    key << p.unsafeGetTensorImpl();
    return key.str();
  } else {
    return static_cast<Key>(p.unsafeGetTensorImpl());
  }
}

std::vector<at::Tensor> optimizer_params(const torch::optim::Optimizer& optimizer) {
  std::vector<at::Tensor> params;
  for (const auto& group : optimizer.param_groups())
    for (const auto& p : group.params()) params.push_back(p);
  return params;
}

// The three optimisers Cohort knows have their state written tensor by tensor,
// under names that do not depend on the process (so pipeline stages' states
// merge by name and Python reads them). Any other (a program's registered one)
// goes whole, through its own save() and load(), as one byte tensor.
constexpr const char* kArchiveName = "optim.archive";

bool known_optimizer(const torch::optim::Optimizer& optimizer) {
  return dynamic_cast<const torch::optim::SGD*>(&optimizer) ||
         dynamic_cast<const torch::optim::Adam*>(&optimizer) ||
         dynamic_cast<const torch::optim::AdamW*>(&optimizer);
}

at::Tensor optimizer_archive(const torch::optim::Optimizer& optimizer) {
  torch::serialize::OutputArchive archive;
  optimizer.save(archive);
  std::ostringstream out;
  archive.save_to(out);
  const std::string bytes = out.str();
  at::Tensor t = at::empty({int64_t(bytes.size())}, at::kByte);
  std::memcpy(t.data_ptr(), bytes.data(), bytes.size());
  return t;
}

void load_optimizer_archive(torch::optim::Optimizer& optimizer, const at::Tensor& bytes,
                            const std::string& context) {
  const at::Tensor b = bytes.contiguous().to(at::kByte);
  std::istringstream in(std::string(static_cast<const char*>(b.data_ptr()), size_t(b.numel())));
  try {
    torch::serialize::InputArchive archive;
    archive.load_from(in);
    optimizer.state().clear();  // load() only adds what was saved
    optimizer.load(archive);
  } catch (const c10::Error& e) {
    const std::string what = e.what_without_backtrace();
    throw InputError(fmt::format("{}: the optimiser's saved state does not load into it: {}",
                                 context, what.substr(0, what.find('\n'))));
  }
}

std::string shape(const at::Tensor& t) { return fmt::format("{}", fmt::join(t.sizes(), "x")); }

void copy_checked(at::Tensor& dst, const at::Tensor& src, const std::string& context,
                  const std::string& name) {
  if (!dst.sizes().equals(src.sizes())) {
    throw InputError(fmt::format("{}: '{}' has shape {} in the checkpoint but {} in the model "
                                 "(was it saved from another model or other sizes?)",
                                 context, name, shape(src), shape(dst)));
  }
  at::NoGradGuard no_grad;
  dst.copy_(src);
}

}  // namespace

NamedTensors capture_state(const torch::nn::Module& model,
                           const torch::optim::Optimizer& optimizer) {
  NamedTensors out;
  // Host copies, whatever the device: checkpoints and PBT copies load anywhere.
  auto host = [](const at::Tensor& t) { return t.detach().to(at::kCPU, false, /*copy=*/true); };
  for (const auto& p : model.named_parameters()) out.emplace_back("param." + p.key(), host(p.value()));
  for (const auto& b : model.named_buffers()) out.emplace_back("buffer." + b.key(), host(b.value()));
  if (!known_optimizer(optimizer)) {
    out.emplace_back(kArchiveName, optimizer_archive(optimizer));
    return out;
  }
  const auto params = optimizer_params(optimizer);
  for (size_t i = 0; i < params.size(); ++i) {
    const auto* base = param_state(optimizer, params[i]);
    if (!base) continue;
    const std::string prefix = fmt::format("optim.{}.", i);
    if (const auto* s = dynamic_cast<const torch::optim::SGDParamState*>(base)) {
      if (s->momentum_buffer().defined()) out.emplace_back(prefix + "momentum_buffer", host(s->momentum_buffer()));
    } else if (const auto* s = dynamic_cast<const torch::optim::AdamParamState*>(base)) {
      out.emplace_back(prefix + "step", at::scalar_tensor(s->step(), at::kLong));
      out.emplace_back(prefix + "exp_avg", host(s->exp_avg()));
      out.emplace_back(prefix + "exp_avg_sq", host(s->exp_avg_sq()));
      if (s->max_exp_avg_sq().defined()) out.emplace_back(prefix + "max_exp_avg_sq", host(s->max_exp_avg_sq()));
    } else if (const auto* s = dynamic_cast<const torch::optim::AdamWParamState*>(base)) {
      out.emplace_back(prefix + "step", at::scalar_tensor(s->step(), at::kLong));
      out.emplace_back(prefix + "exp_avg", host(s->exp_avg()));
      out.emplace_back(prefix + "exp_avg_sq", host(s->exp_avg_sq()));
      if (s->max_exp_avg_sq().defined()) out.emplace_back(prefix + "max_exp_avg_sq", host(s->max_exp_avg_sq()));
    }
  }
  return out;
}

const torch::optim::OptimizerParamState* param_state(const torch::optim::Optimizer& optimizer,
                                                     const at::Tensor& parameter) {
  const auto& states = optimizer.state();
  auto it = states.find(state_key(parameter));
  return it == states.end() ? nullptr : it->second.get();
}

void restore_state(torch::nn::Module& model, torch::optim::Optimizer& optimizer,
                   const NamedTensors& state, const std::string& context) {
  std::map<std::string, at::Tensor> by_name(state.begin(), state.end());
  auto take = [&](const std::string& name) -> const at::Tensor& {
    auto it = by_name.find(name);
    if (it == by_name.end()) {
      throw InputError(fmt::format("{}: the checkpoint has no '{}' (was it saved from another "
                                   "model?)", context, name));
    }
    return it->second;
  };
  for (auto& p : model.named_parameters()) copy_checked(p.value(), take("param." + p.key()), context, p.key());
  for (auto& b : model.named_buffers()) copy_checked(b.value(), take("buffer." + b.key()), context, b.key());

  if (!known_optimizer(optimizer)) {
    // A checkpoint from before the optimiser was registered holds no archive:
    // the optimiser then starts afresh, as one with no state yet does.
    if (by_name.count(kArchiveName))
      load_optimizer_archive(optimizer, by_name[kArchiveName], context);
    return;
  }
  const auto params = optimizer_params(optimizer);
  auto& states = optimizer.state();
  const bool is_sgd = dynamic_cast<torch::optim::SGD*>(&optimizer) != nullptr;
  const bool is_adamw = dynamic_cast<torch::optim::AdamW*>(&optimizer) != nullptr;
  states.clear();
  for (size_t i = 0; i < params.size(); ++i) {
    const std::string prefix = fmt::format("optim.{}.", i);
    auto has = [&](const char* f) { return by_name.count(prefix + f) > 0; };
    if (is_sgd) {
      if (!has("momentum_buffer")) continue;
      auto s = std::make_unique<torch::optim::SGDParamState>();
      at::Tensor buf = at::zeros_like(params[i]);
      copy_checked(buf, take(prefix + "momentum_buffer"), context, prefix + "momentum_buffer");
      s->momentum_buffer(buf);
      states[state_key(params[i])] = std::move(s);
    } else {
      if (!has("step")) continue;
      auto fill = [&](auto& s) {
        s->step(take(prefix + "step").template item<int64_t>());
        at::Tensor a = at::zeros_like(params[i]), b = at::zeros_like(params[i]);
        copy_checked(a, take(prefix + "exp_avg"), context, prefix + "exp_avg");
        copy_checked(b, take(prefix + "exp_avg_sq"), context, prefix + "exp_avg_sq");
        s->exp_avg(a);
        s->exp_avg_sq(b);
        if (has("max_exp_avg_sq")) {
          at::Tensor m = at::zeros_like(params[i]);
          copy_checked(m, take(prefix + "max_exp_avg_sq"), context, prefix + "max_exp_avg_sq");
          s->max_exp_avg_sq(m);
        }
      };
      if (is_adamw) {
        auto s = std::make_unique<torch::optim::AdamWParamState>();
        fill(s);
        states[state_key(params[i])] = std::move(s);
      } else {
        auto s = std::make_unique<torch::optim::AdamParamState>();
        fill(s);
        states[state_key(params[i])] = std::move(s);
      }
    }
  }
}

}  // namespace cohort
