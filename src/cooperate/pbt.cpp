#include "cohort/pbt.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <numeric>
#include <sstream>

#include "cohort/error.h"

namespace cohort {
namespace {

// SplitMix64 (Steele, Lea, Flood 2014): a counter-based generator whose output is
// fully specified, unlike std::uniform_int_distribution, so every platform and
// every process draws the same parent for the same (seed, step, member).
class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t state) : state_(state) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  // Modulo bias is below n / 2^64: irrelevant for population sizes.
  size_t below(size_t n) { return static_cast<size_t>(next() % n); }

 private:
  uint64_t state_;
};

SplitMix64 generator_for(uint64_t seed, int64_t step, int member) {
  SplitMix64 mix(seed);
  const uint64_t a = mix.next() ^ static_cast<uint64_t>(step);
  SplitMix64 mix2(a);
  return SplitMix64(mix2.next() ^ static_cast<uint64_t>(member));
}

bool better(double a, double b) {  // NaN is worse than anything
  if (std::isnan(a)) return false;
  if (std::isnan(b)) return true;
  return a > b;
}

}  // namespace

std::vector<PbtDecision> pbt_decide(int64_t step, const std::vector<double>& scores,
                                    const std::vector<bool>& ready,
                                    const std::vector<Hyperparameters>& hyperparameters,
                                    const PbtOptions& options) {
  const size_t n = scores.size();
  if (ready.size() != n || hyperparameters.size() != n)
    throw InputError("pbt: " + std::to_string(n) + " scores but " + std::to_string(ready.size()) +
                     " ready flags and " + std::to_string(hyperparameters.size()) +
                     " hyperparameter sets; give one of each per member");
  if (!(options.fraction > 0 && options.fraction <= 0.5))
    throw InputError("pbt: fraction must be in (0, 0.5], got " + std::to_string(options.fraction));
  if (options.perturb_factors.empty())
    throw InputError("pbt: perturb_factors is empty; give at least one factor (e.g. 0.8, 1.2)");
  if (n < 2) return {};

  std::vector<int> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int a, int b) { return better(scores[a], scores[b]); });
  const size_t quantile =
      std::min(n / 2, std::max<size_t>(1, static_cast<size_t>(std::floor(n * options.fraction))));
  std::vector<int> bottom(order.end() - quantile, order.end());
  std::sort(bottom.begin(), bottom.end());

  std::vector<PbtDecision> decisions;
  for (int member : bottom) {
    if (!ready[member]) continue;
    SplitMix64 rng = generator_for(options.seed, step, member);
    const int parent = order[rng.below(quantile)];
    PbtDecision d;
    d.step = step;
    d.member = member;
    d.parent = parent;
    d.member_score = scores[member];
    d.parent_score = scores[parent];
    d.old_hyperparameters = hyperparameters[member];
    // std::map iterates in name order, so the draws are assigned reproducibly.
    for (const auto& [name, value] : hyperparameters[parent]) {
      double v = value * options.perturb_factors[rng.below(options.perturb_factors.size())];
      if (auto b = options.bounds.find(name); b != options.bounds.end())
        v = std::clamp(v, b->second.first, b->second.second);
      d.new_hyperparameters[name] = v;
    }
    decisions.push_back(std::move(d));
  }
  return decisions;
}

std::string to_json(const PbtDecision& d) {
  // NaN is not JSON: a diverged member's score is written as null.
  auto score = [](double s) { return std::isnan(s) ? nlohmann::json(nullptr) : nlohmann::json(s); };
  nlohmann::json j = {{"event", "pbt_exploit"},
                      {"step", d.step},
                      {"member", d.member},
                      {"parent", d.parent},
                      {"member_score", score(d.member_score)},
                      {"parent_score", score(d.parent_score)},
                      {"old_hyperparameters", d.old_hyperparameters},
                      {"new_hyperparameters", d.new_hyperparameters}};
  return j.dump();
}

PbtDecision pbt_decision_from_json(const std::string& text) {
  try {
    const nlohmann::json j = nlohmann::json::parse(text);
    auto score = [&](const char* key) {
      return j.at(key).is_null() ? std::nan("") : j.at(key).get<double>();
    };
    PbtDecision d;
    d.step = j.at("step").get<int64_t>();
    d.member = j.at("member").get<int>();
    d.parent = j.at("parent").get<int>();
    d.member_score = score("member_score");
    d.parent_score = score("parent_score");
    d.old_hyperparameters = j.at("old_hyperparameters").get<Hyperparameters>();
    d.new_hyperparameters = j.at("new_hyperparameters").get<Hyperparameters>();
    return d;
  } catch (const nlohmann::json::exception& e) {
    throw InputError(std::string("pbt lineage record is not valid: ") + e.what() +
                     "; expected the JSON written by to_json(PbtDecision)");
  }
}

std::string save_member(const torch::nn::Module& model, const torch::optim::Optimizer& optimizer) {
  torch::serialize::OutputArchive model_archive, optimizer_archive, archive;
  model.save(model_archive);
  optimizer.save(optimizer_archive);
  archive.write("model", model_archive);
  archive.write("optimizer", optimizer_archive);
  std::ostringstream out;
  archive.save_to(out);
  return out.str();
}

void load_member(const std::string& bytes, torch::nn::Module& model,
                 torch::optim::Optimizer& optimizer) {
  torch::serialize::InputArchive archive, model_archive, optimizer_archive;
  try {
    std::istringstream in(bytes);
    archive.load_from(in);
    archive.read("model", model_archive);
    archive.read("optimizer", optimizer_archive);
    model.load(model_archive);
    // libtorch's load only adds the saved entries: clear first, or a parameter the
    // source had no state for would keep this member's old momentum.
    optimizer.state().clear();
    optimizer.load(optimizer_archive);
  } catch (const c10::Error& e) {
    throw InputError(std::string("pbt: cannot load member state: ") + e.what_without_backtrace() +
                     "; both members need the same architecture and optimizer type");
  }
}

void exploit(const torch::nn::Module& from_model, const torch::optim::Optimizer& from_optimizer,
             torch::nn::Module& to_model, torch::optim::Optimizer& to_optimizer) {
  if (from_optimizer.param_groups().size() != to_optimizer.param_groups().size())
    throw InputError("pbt exploit: optimizers have different numbers of param groups");
  load_member(save_member(from_model, from_optimizer), to_model, to_optimizer);
  for (size_t g = 0; g < to_optimizer.param_groups().size(); ++g)
    to_optimizer.param_groups()[g].set_options(from_optimizer.param_groups()[g].options().clone());
}

void apply_hyperparameters(torch::optim::Optimizer& optimizer, const Hyperparameters& values) {
  for (auto& group : optimizer.param_groups()) {
    auto& options = group.options();
    for (const auto& [name, value] : values) {
      if (name == "lr") {
        options.set_lr(value);
      } else if (auto* sgd = dynamic_cast<torch::optim::SGDOptions*>(&options)) {
        if (name == "momentum") sgd->momentum(value);
        if (name == "weight_decay") sgd->weight_decay(value);
      } else if (auto* adam = dynamic_cast<torch::optim::AdamOptions*>(&options)) {
        if (name == "weight_decay") adam->weight_decay(value);
      } else if (auto* adamw = dynamic_cast<torch::optim::AdamWOptions*>(&options)) {
        if (name == "weight_decay") adamw->weight_decay(value);
      }
    }
  }
}

}  // namespace cohort
