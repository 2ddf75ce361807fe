#include "cohort/config.h"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include "cohort/error.h"
#include "config/reader.h"

namespace cohort {
namespace {

using config_detail::TableReader;
using config_detail::where;

toml::table parse_toml(const std::string& text, const std::string& source) {
  try {
    return toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    throw InputError(
        fmt::format("{}:{}: malformed TOML: {}", source, e.source().begin.line, e.description()));
  }
}

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
    size_t index = 0;
    try {
      index = std::stoul(segment);
    } catch (...) {
      throw InputError(fmt::format("--set {}: '{}' must be an index into the array", key, segment));
    }
    if (index == array->size()) array->push_back(toml::table{});
    if (index > array->size()) {
      throw InputError(fmt::format("--set {}: index {} is past the end ({} entries)", key, index,
                                   array->size()));
    }
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
  if (!table) throw InputError(fmt::format("--set {}: the parent is not a table", key));
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

void read_train(TableReader r, TrainConfig& t) {
  r.read("epochs", t.epochs);
  r.read("batch_size", t.batch_size);
  r.read("seed", t.seed);
  r.read("threads", t.threads);
  r.read("max_steps", t.max_steps);
  r.read("log_every", t.log_every);
  r.read("deterministic", t.deterministic);
  r.read("checkpoint_every_steps", t.checkpoint_every_steps);
  r.read("checkpoint_every_seconds", t.checkpoint_every_seconds);
  r.read("keep_checkpoints", t.keep_checkpoints);
  r.read("timeline", t.timeline);
  r.read("tensorboard", t.tensorboard);
  r.read("device", t.device);
  r.read("precision", t.precision);
  r.finish();
  require_choice("train.device", t.device, {"cpu", "cuda", "auto"});
  require_choice("train.precision", t.precision, {"fp32", "bf16"});
  require(t.epochs >= 1, fmt::format("train.epochs must be at least 1, got {}", t.epochs));
  require(t.batch_size >= 1,
          fmt::format("train.batch_size must be at least 1, got {}", t.batch_size));
  require(t.threads >= 0, fmt::format("train.threads must be 0 (auto) or more, got {}", t.threads));
  require(t.max_steps >= 0, fmt::format("train.max_steps must be 0 (no limit) or more"));
  require(t.log_every >= 1, fmt::format("train.log_every must be at least 1"));
  require(t.keep_checkpoints >= 1, fmt::format("train.keep_checkpoints must be at least 1"));
  require(t.checkpoint_every_steps >= 0 && t.checkpoint_every_seconds >= 0,
          "train.checkpoint_every_steps and _seconds must not be negative");
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
  r.read("widths", n.model.widths);
  r.read("channels", n.model.channels);
  r.read("optimizer", n.optimizer);
  r.read("lr", n.lr);
  r.read("momentum", n.momentum);
  r.read("nesterov", n.nesterov);
  r.read("weight_decay", n.weight_decay);
  r.read("beta1", n.beta1);
  r.read("beta2", n.beta2);
  r.read("eps", n.eps);
  r.read("schedule", n.schedule);
  r.read("warmup_steps", n.warmup_steps);
  r.read("step_size", n.step_size);
  r.read("gamma", n.gamma);
  r.read("min_lr", n.min_lr);
  r.read("grad_clip", n.grad_clip);
  r.read("seed", n.seed);
  r.read("init", n.init);
  r.finish();
  require_choice(prefix + "optimizer", n.optimizer, {"sgd", "adam", "adamw"});
  require_choice(prefix + "schedule", n.schedule, {"constant", "step", "cosine"});
  require(n.lr > 0, fmt::format("{}lr must be positive, got {}", prefix, n.lr));
  require(n.momentum >= 0 && n.momentum < 1,
          fmt::format("{}momentum must be in [0, 1), got {}", prefix, n.momentum));
  require(!n.nesterov || n.momentum > 0, prefix + "nesterov needs a positive momentum");
  require(n.weight_decay >= 0, prefix + "weight_decay must not be negative");
  require(n.warmup_steps >= 0 && n.step_size >= 1 && n.gamma > 0 && n.grad_clip >= 0,
          prefix + "warmup_steps >= 0, step_size >= 1, gamma > 0 and grad_clip >= 0 are required");
  require(n.model.channels >= 1, prefix + "channels must be at least 1");
  for (auto w : n.model.widths) require(w >= 1, prefix + "widths must all be at least 1");
  return n;
}

void read_parallel(TableReader r, ParallelConfig& p) {
  r.read("network", p.network);
  r.read("data", p.data);
  r.read("pipeline", p.pipeline);
  r.read("mode", p.mode);
  r.read("micro_batches", p.micro_batches);
  r.read("schedule", p.schedule);
  r.read("partition", p.partition);
  r.read("recompute", p.recompute);
  r.read("servers", p.servers);
  r.read("staleness", p.staleness);
  r.read("staleness_lr_scaling", p.staleness_lr_scaling);
  r.read("average_every", p.average_every);
  r.read("local_after", p.local_after);
  r.read("bucket_mb", p.bucket_mb);
  r.read("comm_hook", p.comm_hook);
  r.read("timeout_seconds", p.timeout_seconds);
  r.finish();
  require(p.network >= 1,
          fmt::format("parallel.network must be at least 1, got {}", p.network));
  require(p.data >= 1, fmt::format("parallel.data must be at least 1, got {}", p.data));
  require(p.pipeline >= 1, fmt::format("parallel.pipeline must be at least 1, got {}", p.pipeline));
  require(p.micro_batches >= 1, "parallel.micro_batches must be at least 1");
  require(p.servers >= 0 && p.average_every >= 1 && p.bucket_mb > 0 && p.timeout_seconds > 0,
          "parallel.servers >= 0, average_every >= 1, bucket_mb > 0 and timeout_seconds > 0 "
          "are required");
  require(
      p.staleness >= -1,
      fmt::format("parallel.staleness must be -1 (unbounded) or at least 0, got {}", p.staleness));
  require(p.local_after >= 0,
          fmt::format("parallel.local_after must be 0 or more steps, got {}", p.local_after));
  require_choice("parallel.mode", p.mode, {"sync", "async", "local-sgd"});
  require_choice("parallel.schedule", p.schedule, {"gpipe", "1f1b"});
  require_choice("parallel.partition", p.partition, {"uniform", "params", "time"});
  require_choice("parallel.comm_hook", p.comm_hook, {"none", "fp16", "bf16", "powersgd"});
}

void read_cooperate(TableReader r, CooperateConfig& c) {
  r.read("method", c.method);
  r.read("alpha", c.alpha);
  r.read("temperature", c.temperature);
  r.read("exchange_every", c.exchange_every);
  r.read("pbt_interval", c.pbt_interval);
  r.read("pbt_fraction", c.pbt_fraction);
  r.read("fused", c.fused);
  r.finish();
  require_choice("cooperate.method", c.method, {"none", "mutual", "codistill", "ensemble", "pbt"});
  require(c.alpha >= 0 && c.temperature > 0 && c.exchange_every >= 1 && c.pbt_interval >= 1 &&
              c.pbt_fraction > 0 && c.pbt_fraction <= 0.5,
          "cooperate: alpha >= 0, temperature > 0, exchange_every >= 1, pbt_interval >= 1 and "
          "0 < pbt_fraction <= 0.5 are required");
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
  TableReader data(sub_table(root, "data"), "data.");
  data.read("path", config.data.path);
  data.read("shuffle", config.data.shuffle);
  data.finish();
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
