// The resolved configuration, written into every run folder and checkpoint so a
// run can be reproduced and resumed from exactly what it ran with.
#include <toml++/toml.h>

#include <sstream>

#include "cohort/config.h"

namespace cohort {

namespace {

template <typename T>
toml::array array_of(const std::vector<T>& values) {
  toml::array out;
  for (const T& v : values) out.push_back(v);
  return out;
}

toml::table data_table(const DataConfig& d) {
  return toml::table{{"format", d.format},
                     {"path", d.path},
                     {"train", d.train},
                     {"test", d.test},
                     {"task", d.task},
                     {"target", d.target},
                     {"size", array_of(d.image_size)},
                     {"mean", array_of(d.mean)},
                     {"std", array_of(d.stddev)},
                     {"shuffle", d.shuffle}};
}

}  // namespace

std::string to_toml(const Config& c) {
  toml::array networks;
  for (const auto& n : c.networks) {
    const toml::array w = array_of(n.model.widths);
    networks.push_back(toml::table{{"name", n.name},
                                   {"model", n.model.name},
                                   {"widths", w},
                                   {"channels", n.model.channels},
                                   {"optimizer", n.optimizer},
                                   {"lr", n.lr},
                                   {"momentum", n.momentum},
                                   {"nesterov", n.nesterov},
                                   {"weight_decay", n.weight_decay},
                                   {"beta1", n.beta1},
                                   {"beta2", n.beta2},
                                   {"eps", n.eps},
                                   {"schedule", n.schedule},
                                   {"warmup_steps", n.warmup_steps},
                                   {"step_size", n.step_size},
                                   {"gamma", n.gamma},
                                   {"min_lr", n.min_lr},
                                   {"grad_clip", n.grad_clip},
                                   {"seed", n.seed},
                                   {"init", n.init},
                                   {"cooperate", n.cooperate}});
    // A member's own layout only where it has one: absent keys mean the [parallel] mesh.
    auto& written = *networks.back().as_table();
    if (n.data) written.insert("data", n.data);
    if (n.pipeline) written.insert("pipeline", n.pipeline);
    if (!n.ranks.empty()) written.insert("ranks", array_of(n.ranks));
  }
  const auto& t = c.train;
  const auto& p = c.parallel;
  const auto& k = c.cooperate;
  toml::table root{{"train", toml::table{{"epochs", t.epochs},
                                         {"batch_size", t.batch_size},
                                         {"seed", int64_t(t.seed)},
                                         {"threads", t.threads},
                                         {"max_steps", t.max_steps},
                                         {"log_every", t.log_every},
                                         {"deterministic", t.deterministic},
                                         {"checkpoint_every_steps", t.checkpoint_every_steps},
                                         {"checkpoint_every_seconds", t.checkpoint_every_seconds},
                                         {"keep_checkpoints", t.keep_checkpoints},
                                         {"checkpoint_on_interrupt", t.checkpoint_on_interrupt},
                                         {"timeline", t.timeline},
                                         {"tensorboard", t.tensorboard},
                                         {"device", t.device},
                                         {"precision", t.precision}}},
                   {"data", data_table(c.data)},
                   {"network", networks},
                   {"parallel", toml::table{{"network", p.network},
                                            {"data", p.data},
                                            {"pipeline", p.pipeline},
                                            {"tensor", p.tensor},
                                            {"mode", p.mode},
                                            {"micro_batches", p.micro_batches},
                                            {"schedule", p.schedule},
                                            {"partition", p.partition},
                                            {"recompute", p.recompute},
                                            {"servers", p.servers},
                                            {"staleness", p.staleness},
                                            {"staleness_lr_scaling", p.staleness_lr_scaling},
                                            {"average_every", p.average_every},
                                            {"local_after", p.local_after},
                                            {"bucket_mb", p.bucket_mb},
                                            {"shard", p.shard},
                                            {"shard_unit_mb", p.shard_unit_mb},
                                            {"comm_hook", p.comm_hook},
                                            {"plan", p.plan},
                                            {"timeout_seconds", p.timeout_seconds}}},
                   {"cooperate", toml::table{{"method", k.method},
                                             {"alpha", k.alpha},
                                             {"temperature", k.temperature},
                                             {"exchange_every", k.exchange_every},
                                             {"pbt_interval", k.pbt_interval},
                                             {"pbt_fraction", k.pbt_fraction},
                                             {"fused", k.fused}}}};
  // Basic strings only, which escape control characters. toml++ 3.3 writes "\nn"
  // as '''<newline>n''' (TOML drops a newline right after the opening delimiter:
  // it loads back as "n") or, without multi-line strings, as a literal string
  // holding a raw newline (which TOML forbids). Found by the config fuzzer.
  std::ostringstream out;
  out << toml::toml_formatter{root, toml::toml_formatter::default_flags &
                                        ~toml::format_flags::allow_multi_line_strings &
                                        ~toml::format_flags::allow_literal_strings}
      << "\n";
  return out.str();
}

}  // namespace cohort
