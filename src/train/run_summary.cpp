// What a run gives back: for programs (JSON, the last line on stdout) and for a person.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <nlohmann/json.hpp>

#include "cohort/trainer.h"

namespace cohort {

std::string RunSummary::to_json() const {
  nlohmann::json nets = nlohmann::json::array();
  for (const auto& n : networks) {
    nets.push_back({{"name", n.name},
                    {"model", n.model},
                    {"test_accuracy", n.test_accuracy},
                    {"test_loss", n.test_loss},
                    {"control", n.control}});
  }
  nlohmann::json out = {{"networks", nets},
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
  if (ensemble) {
    out["ensemble"] = {{"test_accuracy", ensemble->test_accuracy},
                       {"test_loss", ensemble->test_loss}};
  }
  return out.dump();
}

namespace {

const NetworkResult* best_of(const std::vector<NetworkResult>& networks, bool control) {
  const NetworkResult* best = nullptr;
  for (const auto& n : networks)
    if (n.control == control && (!best || n.test_accuracy >= best->test_accuracy)) best = &n;
  return best;
}

std::string result_line(const std::string& name, const std::string& model, double accuracy,
                        double loss) {
  return fmt::format("  {:<12} {:<8} test accuracy {:6.2f}%  loss {:.4f}", name, model,
                     100 * accuracy, loss);
}

// What cooperation bought: the cohort's best network and its ensemble against
// the best control network, trained alone on the same batches.
std::string gain_line(const NetworkResult& best, const std::optional<NetworkResult>& ensemble,
                      const NetworkResult& control) {
  std::string out =
      fmt::format("  cooperation against training alone ({}): best network {:+.2f} points",
                  control.name, 100 * (best.test_accuracy - control.test_accuracy));
  if (ensemble)
    out += fmt::format(", ensemble {:+.2f} points",
                       100 * (ensemble->test_accuracy - control.test_accuracy));
  return out + "\n";
}

}  // namespace

std::string RunSummary::describe() const {
  std::string out = fmt::format("result after {} steps in {:.0f} s ({:.0f} samples/s):\n", steps,
                                wall_seconds, samples_per_sec);
  for (const auto& n : networks)
    if (!n.control) out += result_line(n.name, n.model, n.test_accuracy, n.test_loss) + "\n";
  const NetworkResult* best = best_of(networks, false);
  if (ensemble && best) {
    out += fmt::format("{}  ({:+.2f} points against the best network, {})\n",
                       result_line("ensemble", "", ensemble->test_accuracy, ensemble->test_loss),
                       100 * (ensemble->test_accuracy - best->test_accuracy), best->name);
  }
  for (const auto& n : networks)
    if (n.control)
      out += result_line(n.name, n.model, n.test_accuracy, n.test_loss) +
             "  control: trained alone on the same batches\n";
  if (const NetworkResult* control = best_of(networks, true); control && best)
    out += gain_line(*best, ensemble, *control);
  if (async && !async->lost_workers.empty())
    out += fmt::format("  lost workers: {}\n", fmt::join(async->lost_workers, ", "));
  return out + fmt::format("  run folder: {}\n", run_dir);
}

}  // namespace cohort
