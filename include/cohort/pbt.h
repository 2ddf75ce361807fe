// Population based training (Jaderberg et al. 2017, "Population Based Training of
// Neural Networks"). A population trains in parallel; every so often each member
// that is "ready" is ranked, and a member in the bottom fraction takes the weights,
// optimizer state and hyperparameters of a member in the top fraction (exploit) and
// then perturbs those hyperparameters (explore). The decision is a pure function of
// the scores, flags and a seed, so every process of a distributed population
// computes the same decision without talking.
#pragma once

#include <torch/nn/module.h>
#include <torch/optim/optimizer.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace cohort {

// Named hyperparameters of one member ("lr", "momentum", "weight_decay", ...).
using Hyperparameters = std::map<std::string, double>;

struct PbtOptions {
  // Truncation selection: the bottom `fraction` copies from the top `fraction`
  // (the paper's 20-25%). At least one member each when the population has two or
  // more, never more than half.
  double fraction = 0.25;
  // Explore: each hyperparameter is multiplied by one of these, chosen uniformly.
  std::vector<double> perturb_factors = {0.8, 1.2};
  // Optional [min, max] per hyperparameter; perturbed values are clamped to it.
  std::map<std::string, std::pair<double, double>> bounds;
  uint64_t seed = 0;
};

// One exploit-and-explore event: also the lineage record written to the log.
struct PbtDecision {
  int64_t step = 0;
  int member = 0;  // the member that is replaced
  int parent = 0;  // the member it copies
  double member_score = 0;
  double parent_score = 0;
  Hyperparameters old_hyperparameters;  // the member's before the event
  Hyperparameters new_hyperparameters;  // the parent's, perturbed
};

// Decides the exploit-and-explore events at `step`. Scores: higher is better (pass
// -loss for a loss); NaN ranks last, so a diverged member is replaced. Only members
// with ready[m] are replaced; any member may be a parent. Ties rank by member
// index. The parent and the perturbation come from a counter-based generator of
// (seed, step, member), so the result depends on nothing else. Events come in
// increasing member order. Sizes that disagree raise InputError.
std::vector<PbtDecision> pbt_decide(int64_t step, const std::vector<double>& scores,
                                    const std::vector<bool>& ready,
                                    const std::vector<Hyperparameters>& hyperparameters,
                                    const PbtOptions& options);

// A lineage record as one line of JSON and back (InputError on malformed text).
std::string to_json(const PbtDecision& decision);
PbtDecision pbt_decision_from_json(const std::string& json);

// Exploit: makes member `to` an exact copy of member `from`: parameters and
// buffers, the optimizer's per-parameter state (SGD momentum buffers, Adam moments
// and step counts) and its param-group options. The copy is deep: afterwards the
// two share no storage. Both must have the same architecture and optimizer type.
void exploit(const torch::nn::Module& from_model, const torch::optim::Optimizer& from_optimizer,
             torch::nn::Module& to_model, torch::optim::Optimizer& to_optimizer);

// The same for members in different processes: save_member() gives bytes to
// send, load_member() replaces a member with them. Param-group options do not
// travel (libtorch does not restore them); apply the hyperparameters of the
// PbtDecision after loading.
std::string save_member(const torch::nn::Module& model, const torch::optim::Optimizer& optimizer);
void load_member(const std::string& bytes, torch::nn::Module& model,
                 torch::optim::Optimizer& optimizer);

// Sets the optimizer hyperparameters in every param group: "lr" for any
// optimizer; "momentum" and "weight_decay" for SGD; "weight_decay" for Adam and
// AdamW. Other names belong to the caller (a loss weight, say) and are ignored.
void apply_hyperparameters(torch::optim::Optimizer& optimizer, const Hyperparameters& values);

}  // namespace cohort
