// What a run gives back: for programs (JSON, the last line on stdout) and for a person.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "cohort/trainer.h"
#include "train/record/test_scores.h"

namespace cohort {

namespace {

nlohmann::json scores(Task task, const NetworkResult& n) {
  return test_scores(task, n.test_accuracy, n.test_loss);
}

}  // namespace

std::string RunSummary::to_json() const {
  nlohmann::json nets = nlohmann::json::array();
  for (const auto& n : networks) {
    nlohmann::json net{{"name", n.name}, {"model", n.model}, {"control", n.control}};
    net.update(scores(task, n));
    nets.push_back(net);
  }
  nlohmann::json out = {{"task", task_name(task)},
                        {"networks", nets},
                        {"steps", steps},
                        {"samples_per_sec", samples_per_sec},
                        {"wall_seconds", wall_seconds},
                        {"run_dir", run_dir}};
  if (async) {
    out["async"] = {{"pushes", async->pushes},
                    {"max_lead", async->max_lead},
                    {"staleness_bound", async->staleness_bound},
                    {"lost_workers", async->lost_workers}};
  }
  if (ensemble) out["ensemble"] = scores(task, *ensemble);
  if (!memory.empty()) {
    // Named to sort after "networks", which readers expect first.
    auto& held = out["state_bytes"] = nlohmann::json::array();
    for (const auto& m : memory)
      held.push_back({{"name", m.name},
                      {"parameters", m.parameters},
                      {"gradients", m.gradients},
                      {"optimizer", m.optimizer},
                      {"activations", m.activations}});
  }
  if (!step_peak_bytes.empty()) out["step_peak_bytes"] = step_peak_bytes;
  return out.dump();
}

namespace {

// Higher accuracy is better; for regression, a lower mean squared error.
bool at_least_as_good(Task task, const NetworkResult& a, const NetworkResult& b) {
  return task == Task::Classification ? a.test_accuracy >= b.test_accuracy
                                      : a.test_loss <= b.test_loss;
}

const NetworkResult* best_of(Task task, const std::vector<NetworkResult>& networks, bool control) {
  const NetworkResult* best = nullptr;
  for (const auto& n : networks)
    if (n.control == control && (!best || at_least_as_good(task, n, *best))) best = &n;
  return best;
}

std::string result_line(Task task, const NetworkResult& n, const std::string& model) {
  if (task == Task::Regression)
    return fmt::format("  {:<12} {:<8} test mean squared error {:.4g}", n.name, model, n.test_loss);
  return fmt::format("  {:<12} {:<8} test accuracy {:6.2f}%  loss {:.4f}", n.name, model,
                     100 * n.test_accuracy, n.test_loss);
}

// How `mine` compares with `reference`: points of accuracy, or for regression
// the relative change of the error.
std::string difference(Task task, const NetworkResult& mine, const NetworkResult& reference) {
  if (task == Task::Classification)
    return fmt::format("{:+.2f} points", 100 * (mine.test_accuracy - reference.test_accuracy));
  const double change =
      100 * (mine.test_loss - reference.test_loss) / std::max(reference.test_loss, 1e-30);
  return fmt::format("{:.1f}% {} error", std::abs(change), change <= 0 ? "less" : "more");
}

// What cooperation bought: the cohort's best network and its ensemble against
// the best control network, trained alone on the same batches.
std::string gain_line(Task task, const NetworkResult& best,
                      const std::optional<NetworkResult>& ensemble, const NetworkResult& control) {
  std::string out = fmt::format("  cooperation against training alone ({}): best network {}",
                                control.name, difference(task, best, control));
  if (ensemble) out += fmt::format(", ensemble {}", difference(task, *ensemble, control));
  return out + "\n";
}

}  // namespace

std::string RunSummary::describe() const {
  std::string out = fmt::format("result after {} steps in {:.0f} s ({:.0f} samples/s):\n", steps,
                                wall_seconds, samples_per_sec);
  for (const auto& n : networks)
    if (!n.control) out += result_line(task, n, n.model) + "\n";
  const NetworkResult* best = best_of(task, networks, false);
  if (ensemble && best) {
    out += fmt::format("{}  ({} against the best network, {})\n", result_line(task, *ensemble, ""),
                       difference(task, *ensemble, *best), best->name);
  }
  for (const auto& n : networks)
    if (n.control)
      out += result_line(task, n, n.model) + "  control: trained alone on the same batches\n";
  if (const NetworkResult* control = best_of(task, networks, true); control && best)
    out += gain_line(task, *best, ensemble, *control);
  if (async && !async->lost_workers.empty())
    out += fmt::format("  lost workers: {}\n", fmt::join(async->lost_workers, ", "));
  return out + fmt::format("  run folder: {}\n", run_dir);
}

}  // namespace cohort
