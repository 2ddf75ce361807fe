#include "cohort/config.h"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>

#include "cohort/error.h"
#include "cohort/optim.h"
#include "config/reader.h"

namespace cohort {
namespace {

using config_detail::at_least;
using config_detail::parse_toml;
using config_detail::positive;
using config_detail::Range;
using config_detail::TableReader;
using config_detail::unit_interval_open_above;
using config_detail::where;

// Fills what `user` leaves out from `defaults`, recursing into tables. The user's
// nodes stay where the parser put them, so errors can still name their line.
void fill_defaults(toml::table& user, const toml::table& defaults) {
  for (const auto& [key, node] : defaults) {
    auto* existing = user.get(key);
    if (!existing) {
      user.insert(key, node);
    } else if (existing->is_table() && node.is_table()) {
      fill_defaults(*existing->as_table(), *node.as_table());
    }
  }
}

toml::node* child(toml::node& parent, const std::string& segment, const std::string& key) {
  if (auto* table = parent.as_table()) {
    if (!table->contains(segment)) table->insert(segment, toml::table{});
    return table->get(segment);
  }
  if (auto* array = parent.as_array()) {
    // Digits only: stoul would take "-1" as 2^64 - 1 and " 1" as 1.
    const bool digits =
        !segment.empty() && segment.size() <= 9 &&
        std::all_of(segment.begin(), segment.end(), [](char c) { return c >= '0' && c <= '9'; });
    const size_t index = digits ? std::stoul(segment) : 0;
    if (!digits || index > array->size()) {
      throw InputError(fmt::format(
          "--set {}: '{}' is not an index of the {} entries: use 0 to {} ({} appends one)", key,
          segment, array->size(), array->size() > 0 ? array->size() - 1 : 0, array->size()));
    }
    if (index == array->size()) array->push_back(toml::table{});
    return array->get(index);
  }
  throw InputError(fmt::format("--set {}: '{}' is not a table", key, segment));
}

// RFC 3629: no overlong forms, no surrogates, nothing past U+10FFFF.
bool is_utf8(const std::string& text) {
  static constexpr uint32_t kSmallest[] = {0, 0x80, 0x800, 0x10000};
  for (size_t i = 0; i < text.size();) {
    const auto lead = uint8_t(text[i]);
    int tail = 0;
    uint32_t code = lead;
    if (lead >= 0x80) {
      if ((lead & 0xE0) == 0xC0) {
        tail = 1;
        code = lead & 0x1F;
      } else if ((lead & 0xF0) == 0xE0) {
        tail = 2;
        code = lead & 0x0F;
      } else if ((lead & 0xF8) == 0xF0) {
        tail = 3;
        code = lead & 0x07;
      } else {
        return false;
      }
    }
    if (i + tail >= text.size()) return false;
    for (int k = 1; k <= tail; ++k) {
      const auto next = uint8_t(text[i + k]);
      if ((next & 0xC0) != 0x80) return false;
      code = (code << 6) | (next & 0x3F);
    }
    if (code < kSmallest[tail] || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) {
      return false;
    }
    i += tail + 1;
  }
  return true;
}

void apply_override(toml::table& root, const std::string& assignment) {
  const auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0) {
    throw InputError(
        fmt::format("--set '{}': expected key=value, e.g. train.epochs=3", assignment));
  }
  const std::string key = assignment.substr(0, eq);
  const std::string value = assignment.substr(eq + 1);
  std::vector<std::string> path;
  std::stringstream stream(key);
  for (std::string seg; std::getline(stream, seg, '.');) {
    if (seg.empty()) throw InputError(fmt::format("--set {}: empty key segment", key));
    path.push_back(seg == "network" && path.empty() ? "network" : seg);
  }
  toml::node* node = &root;
  for (size_t i = 0; i + 1 < path.size(); ++i) node = child(*node, path[i], key);
  auto* table = node->as_table();
  if (!table) {
    const std::string parent = key.substr(0, key.rfind('.'));
    throw InputError(
        fmt::format("--set {}: {} is a value, not a table of keys (did you mean "
                    "--set {}.{}?)",
                    key, parent, parent.substr(0, parent.rfind('.')), path.back()));
  }
  // A value is TOML when it parses as TOML, otherwise a bare word is a string.
  toml::table parsed;
  try {
    parsed = toml::parse("v = " + value, "--set " + key);
  } catch (const toml::parse_error&) {
    // The parser checks the encoding of TOML text, but not of a bare word; one that
    // is not UTF-8 would come back changed from the resolved config.toml.
    if (!is_utf8(value)) {
      throw InputError(fmt::format("--set {}: the value is not valid UTF-8", key));
    }
    parsed.insert("v", value);
  }
  table->insert_or_assign(path.back(), *parsed.get("v"));
}

template <typename T>
void require(bool ok, const T& what) {
  if (!ok) throw InputError(what);
}

void require_choice(const std::string& key, const std::string& value,
                    const std::set<std::string>& choices) {
  if (choices.count(value)) return;
  std::string list;
  for (const auto& c : choices) list += (list.empty() ? "" : ", ") + c;
  throw InputError(fmt::format("{} = '{}' is not one of: {}", key, value, list));
}

// Generous ceilings: far past any real run, low enough to keep products and
// conversions (steps x batch, seconds -> milliseconds) exact and finite.
constexpr double kManySteps = 1e12;
constexpr double kManyRanks = 4096;

void read_train(TableReader r, TrainConfig& t) {
  r.read("epochs", t.epochs, at_least(1, 1e6));
  r.read("batch_size", t.batch_size, at_least(1, 1 << 20));
  r.read("seed", t.seed);
  r.read("threads", t.threads, at_least(0, 1024, "0 = the cores shared by local processes"));
  r.read("max_steps", t.max_steps, at_least(0, kManySteps, "0 = no limit"));
  r.read("log_every", t.log_every, at_least(1, kManySteps));
  r.read("deterministic", t.deterministic);
  r.read("checkpoint_every_steps", t.checkpoint_every_steps,
         at_least(0, kManySteps, "0 = at the end of every epoch only"));
  r.read("checkpoint_every_seconds", t.checkpoint_every_seconds, at_least(0, 1e7, "0 = off"));
  r.read("keep_checkpoints", t.keep_checkpoints, at_least(1, 1e6));
  r.read("checkpoint_on_interrupt", t.checkpoint_on_interrupt);
  r.read("timeline", t.timeline);
  r.read("tensorboard", t.tensorboard);
  r.read("device", t.device);
  r.read("precision", t.precision);
  r.finish();
  require_choice("train.device", t.device, {"cpu", "cuda", "auto"});
  require_choice("train.precision", t.precision, {"fp32", "bf16"});
}

void read_optimizer(TableReader& r, NetworkConfig& n) {
  r.read("optimizer", n.optimizer);
  r.read("lr", n.lr, positive(10));
  r.read("momentum", n.momentum, unit_interval_open_above());
  r.read("nesterov", n.nesterov);
  r.read("weight_decay", n.weight_decay, at_least(0, 1));
  r.read("beta1", n.beta1, unit_interval_open_above());
  r.read("beta2", n.beta2, unit_interval_open_above());
  r.read("eps", n.eps, positive(1));
  r.read("schedule", n.schedule);
  r.read("warmup_steps", n.warmup_steps, at_least(0, kManySteps));
  r.read("step_size", n.step_size, at_least(1, kManySteps));
  r.read("gamma", n.gamma, positive(1));
  r.read("min_lr", n.min_lr, at_least(0, 10));
  r.read("grad_clip", n.grad_clip, at_least(0, 1e12, "0 = off"));
}

NetworkConfig read_network(const toml::node& node, size_t index) {
  const std::string prefix = fmt::format("network.{}.", index);
  const auto* table = node.as_table();
  if (!table) throw InputError(fmt::format("{}network.{} must be a table", where(node), index));
  NetworkConfig n;
  TableReader r(*table, prefix);
  r.read("model", n.model.name);
  n.name = fmt::format("{}{}", n.model.name, index);  // unless named
  r.read("name", n.name);
  r.read("widths", n.model.widths, at_least(1, 1 << 20));
  r.read("channels", n.model.channels, at_least(1, 4096));
  read_optimizer(r, n);
  r.read("seed", n.seed,
         at_least(-1, std::numeric_limits<double>::infinity(),
                  "-1 = train.seed + the network's index"));
  r.read("init", n.init);
  r.read("cooperate", n.cooperate);
  r.read("data", n.data, at_least(0, kManyRanks, "0 = parallel.data"));
  r.read("pipeline", n.pipeline, at_least(0, kManyRanks, "0 = parallel.pipeline"));
  r.read("ranks", n.ranks, at_least(0, kManyRanks));
  r.finish();
  const auto optimizers = optimizer_names();
  require_choice(prefix + "optimizer", n.optimizer, {optimizers.begin(), optimizers.end()});
  require_choice(prefix + "schedule", n.schedule, {"constant", "step", "cosine"});
  require(!n.nesterov || n.momentum > 0, prefix + "nesterov needs a positive momentum");
  require(n.min_lr <= n.lr, fmt::format("{}min_lr = {} is above {}lr = {}: the cosine schedule "
                                        "decays from lr down to min_lr",
                                        prefix, n.min_lr, prefix, n.lr));
  return n;
}

void read_parallel(TableReader r, ParallelConfig& p) {
  r.read("network", p.network, at_least(1, kManyRanks));
  r.read("data", p.data, at_least(1, kManyRanks));
  r.read("pipeline", p.pipeline, at_least(1, kManyRanks));
  r.read("tensor", p.tensor, at_least(1, kManyRanks));
  r.read("mode", p.mode);
  r.read("micro_batches", p.micro_batches, at_least(1, 1 << 20));
  r.read("schedule", p.schedule);
  r.read("partition", p.partition);
  r.read("recompute", p.recompute);
  r.read("servers", p.servers, at_least(0, kManyRanks));
  r.read("staleness", p.staleness, at_least(-1, kManySteps, "-1 = unbounded"));
  r.read("staleness_lr_scaling", p.staleness_lr_scaling);
  r.read("average_every", p.average_every, at_least(1, kManySteps));
  r.read("local_after", p.local_after, at_least(0, kManySteps));
  r.read("bucket_mb", p.bucket_mb, positive(1e6));
  r.read("shard", p.shard,
         at_least(0, 3, "0 = off, 1 = optimiser state, 2 = and gradients, 3 = and parameters"));
  r.read("shard_unit_mb", p.shard_unit_mb, positive(1e6));
  r.read("comm_hook", p.comm_hook);
  r.read("plan", p.plan);
  r.read("timeout_seconds", p.timeout_seconds, positive(1e6));
  r.finish();
  require_choice("parallel.mode", p.mode, {"sync", "async", "local-sgd"});
  require_choice("parallel.schedule", p.schedule, {"gpipe", "1f1b"});
  require_choice("parallel.partition", p.partition, {"uniform", "params", "time"});
  require_choice("parallel.comm_hook", p.comm_hook, {"none", "fp16", "bf16", "powersgd"});
  require_choice("parallel.plan", p.plan, {"manual", "auto"});
}

void read_cooperate(TableReader r, CooperateConfig& c) {
  r.read("method", c.method);
  r.read("alpha", c.alpha, at_least(0, 100));
  r.read("temperature", c.temperature, positive(100));
  r.read("exchange_every", c.exchange_every, at_least(1, kManySteps));
  r.read("pbt_interval", c.pbt_interval, at_least(1, kManySteps));
  r.read("pbt_fraction", c.pbt_fraction, Range{0, 0.5, true, false, ""});
  r.read("fused", c.fused);
  r.finish();
  require_choice("cooperate.method", c.method, {"none", "mutual", "codistill", "ensemble", "pbt"});
}

void read_data(TableReader r, DataConfig& d) {
  r.read("format", d.format);
  r.read("path", d.path);
  r.read("train", d.train);
  r.read("test", d.test);
  r.read("task", d.task);
  r.read("target", d.target);
  r.read("size", d.image_size, at_least(1, 1 << 14));
  r.read("mean", d.mean, Range{-1e6, 1e6, true, true, ""});
  r.read("std", d.stddev, positive(1e6));
  r.read("shuffle", d.shuffle);
  r.finish();
  const auto formats = data_format_names();
  require_choice("data.format", d.format, {formats.begin(), formats.end()});
  require_choice("data.task", d.task, {"classification", "regression"});
  require(d.task == "classification" || (d.format != "idx" && d.format != "images"),
          fmt::format("data.task = 'regression' needs real-valued targets, which data.format = "
                      "'{}' does not hold: use 'tensors' or 'csv'",
                      d.format));
  require(d.image_size.empty() || d.image_size.size() == 2,
          fmt::format("data.size must be [H, W], got {} values", d.image_size.size()));
  require(d.mean.size() == d.stddev.size(),
          fmt::format("data.mean has {} values and data.std {}: give both, one per channel",
                      d.mean.size(), d.stddev.size()));
}

const toml::table& sub_table(toml::table& root, const char* key) {
  auto* node = root.get(key);
  if (!node) root.insert(key, toml::table{});
  node = root.get(key);
  if (!node->is_table()) {
    throw InputError(fmt::format("{}[{}] must be a table", where(*node), key));
  }
  return *node->as_table();
}

Config from_table(toml::table& root) {
  Config config;
  TableReader top(root, "");
  top.get("train");
  top.get("data");
  top.get("network");
  top.get("parallel");
  top.get("cooperate");
  top.finish();
  read_train(TableReader(sub_table(root, "train"), "train."), config.train);
  read_data(TableReader(sub_table(root, "data"), "data."), config.data);
  const auto* networks = root.get("network");
  if (!networks || !networks->is_array() || networks->as_array()->empty()) {
    throw InputError("the config needs at least one [[network]] entry");
  }
  size_t index = 0;
  for (const auto& node : *networks->as_array()) {
    config.networks.push_back(read_network(node, index++));
  }
  std::set<std::string> names;
  for (const auto& n : config.networks) {
    require(names.insert(n.name).second, fmt::format("two networks are named '{}'", n.name));
  }
  read_parallel(TableReader(sub_table(root, "parallel"), "parallel."), config.parallel);
  read_cooperate(TableReader(sub_table(root, "cooperate"), "cooperate."), config.cooperate);
  return config;
}

}  // namespace

Config parse_config_text(const std::string& toml, const std::string& origin,
                         const std::vector<std::string>& overrides) {
  const toml::table defaults = parse_toml(default_config_toml(), "<defaults>");
  toml::table root = parse_toml(toml, origin);
  // A file that lists networks replaces the default list (no per-entry merge).
  fill_defaults(root, defaults);
  for (const auto& o : overrides) apply_override(root, o);
  return from_table(root);
}

Config load_config(const std::string& path, const std::vector<std::string>& overrides) {
  if (path.empty()) return parse_config_text("", "<defaults>", overrides);
  std::ifstream file(path);
  if (!file) {
    throw InputError(fmt::format("config file {} cannot be read: {}", path, std::strerror(errno)));
  }
  std::stringstream text;
  text << file.rdbuf();
  return parse_config_text(text.str(), path, overrides);
}

}  // namespace cohort
