#include "config/reader.h"

#include <fmt/format.h>

#include "cohort/error.h"

namespace cohort::config_detail {

toml::table parse_toml(const std::string& text, const std::string& source) {
  try {
    return toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    throw InputError(
        fmt::format("{}:{}: malformed TOML: {}", source, e.source().begin.line, e.description()));
  }
}

std::string where(const toml::node& node) {
  const auto& src = node.source();
  if (!src.path || src.path->empty()) return "";
  return fmt::format("{}:{}: ", *src.path, src.begin.line);
}

TableReader::TableReader(const toml::table& table, std::string prefix)
    : table_(table), prefix_(std::move(prefix)) {}

const toml::node* TableReader::get(const char* key) {
  known_.insert(key);
  return table_.get(key);
}

void TableReader::wrong_type(const char* key, const toml::node& node, const char* want) const {
  throw InputError(fmt::format("{}{} must be {}, got {}", where(node), key_path(key), want,
                               toml::impl::node_type_friendly_names[size_t(node.type())]));
}

void TableReader::read(const char* key, int64_t& out) {
  if (const auto* node = get(key)) {
    if (!node->is_integer()) wrong_type(key, *node, "an integer");
    out = node->as_integer()->get();
  }
}

void TableReader::read(const char* key, uint64_t& out) {
  if (const auto* node = get(key)) {
    if (!node->is_integer() || node->as_integer()->get() < 0) {
      wrong_type(key, *node, "a non-negative integer");
    }
    out = static_cast<uint64_t>(node->as_integer()->get());
  }
}

void TableReader::read(const char* key, double& out) {
  if (const auto* node = get(key)) {
    if (node->is_integer()) {
      out = static_cast<double>(node->as_integer()->get());
    } else if (node->is_floating_point()) {
      out = node->as_floating_point()->get();
    } else {
      wrong_type(key, *node, "a number");
    }
  }
}

void TableReader::read(const char* key, bool& out) {
  if (const auto* node = get(key)) {
    if (!node->is_boolean()) wrong_type(key, *node, "true or false");
    out = node->as_boolean()->get();
  }
}

void TableReader::read(const char* key, std::string& out) {
  if (const auto* node = get(key)) {
    if (!node->is_string()) wrong_type(key, *node, "a string");
    out = node->as_string()->get();
  }
}

void TableReader::read(const char* key, std::vector<int64_t>& out) {
  if (const auto* node = get(key)) {
    const auto* array = node->as_array();
    if (!array) wrong_type(key, *node, "an array of integers");
    out.clear();
    for (const auto& item : *array) {
      if (!item.is_integer()) wrong_type(key, item, "an array of integers");
      out.push_back(item.as_integer()->get());
    }
  }
}

void TableReader::check(const char* key, double value, const Range& range,
                        const std::string& shown) const {
  if (range.contains(value)) return;
  const auto* node = table_.get(key);
  throw InputError(fmt::format("{}{} must be {}, got {}", node ? where(*node) : "", key_path(key),
                               range.describe(), shown));
}

void TableReader::read(const char* key, int64_t& out, const Range& range) {
  read(key, out);
  check(key, double(out), range, std::to_string(out));
}

void TableReader::read(const char* key, double& out, const Range& range) {
  read(key, out);
  check(key, out, range, fmt::format("{}", out));
}

void TableReader::read(const char* key, std::vector<int64_t>& out, const Range& each) {
  read(key, out);
  for (const int64_t v : out) {
    if (each.contains(double(v))) continue;
    const auto* node = table_.get(key);
    throw InputError(fmt::format("{}{} must all be {}, got {}", node ? where(*node) : "",
                                 key_path(key), each.describe(), v));
  }
}

void TableReader::read(const char* key, std::vector<double>& out, const Range& each) {
  const auto* node = get(key);
  if (!node) return;
  const auto* array = node->as_array();
  if (!array) wrong_type(key, *node, "an array of numbers");
  out.clear();
  for (const auto& item : *array) {
    const auto value = item.value<double>();
    if (!value || !(item.is_integer() || item.is_floating_point()))
      wrong_type(key, item, "an array of numbers");
    check(key, *value, each, fmt::format("{}", *value));
    out.push_back(*value);
  }
}

void TableReader::finish() const {
  for (const auto& [key, node] : table_) {
    if (!known_.count(std::string(key.str()))) {
      std::string known;
      for (const auto& k : known_) known += (known.empty() ? "" : ", ") + k;
      throw InputError(fmt::format("{}unknown key '{}{}' (known keys here: {})", where(node),
                                   prefix_, key.str(), known));
    }
  }
}

}  // namespace cohort::config_detail
