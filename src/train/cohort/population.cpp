#include "train/cohort/population.h"

#include "cohort/pbt.h"

namespace cohort {

PopulationSchedule::PopulationSchedule(const CooperateConfig& cooperate, uint64_t seed)
    : enabled_(cooperate.method == "pbt"),
      interval_(cooperate.pbt_interval),
      fraction_(cooperate.pbt_fraction),
      seed_(seed) {}

void PopulationSchedule::after_step(int64_t step, std::vector<Network>& nets,
                                    const std::vector<double>& losses, MetricsLog& log,
                                    const CopyNetwork& copy) {
  if (!enabled_) return;
  loss_sums_.resize(nets.size(), 0.0);
  for (size_t k = 0; k < nets.size(); ++k) loss_sums_[k] += losses[k];
  if (++steps_in_interval_ < interval_) return;

  std::vector<double> scores;
  std::vector<bool> ready(nets.size(), true);
  std::vector<Hyperparameters> hps;
  for (size_t k = 0; k < nets.size(); ++k) {
    scores.push_back(-loss_sums_[k] / double(steps_in_interval_));
    const auto& c = nets[k].config;
    hps.push_back({{"lr", c.lr}, {"momentum", c.momentum}, {"weight_decay", c.weight_decay}});
  }
  PbtOptions options;
  options.fraction = fraction_;
  options.seed = seed_;
  options.bounds = {{"momentum", {0.0, 0.99}}};
  for (const PbtDecision& d : pbt_decide(step, scores, ready, hps, options)) {
    Network& to = nets[size_t(d.member)];
    const Network& from = nets[size_t(d.parent)];
    if (copy) {
      copy(size_t(d.member), size_t(d.parent));
    } else {
      exploit(*from.model, *from.optimizer, *to.model, *to.optimizer);
    }
    apply_hyperparameters(*to.optimizer, d.new_hyperparameters);
    // The trainer sets the learning rate from the config every step.
    to.config.lr = d.new_hyperparameters.at("lr");
    to.config.momentum = d.new_hyperparameters.at("momentum");
    to.config.weight_decay = d.new_hyperparameters.at("weight_decay");
    log.write(std::string("{\"kind\":\"pbt\",") + to_json(d).substr(1));
  }
  std::fill(loss_sums_.begin(), loss_sums_.end(), 0.0);
  steps_in_interval_ = 0;
}

}  // namespace cohort
