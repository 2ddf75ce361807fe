// Strict, typed reads from one TOML table: each key read is remembered so that
// finish() can reject the keys nobody asked for, naming file and line.
#pragma once

#include <toml++/toml.h>

#include <set>
#include <string>

#include "config/range.h"

namespace cohort::config_detail {

std::string where(const toml::node& node);

// `text` parsed as TOML; errors as InputError "SOURCE:LINE: malformed TOML: ...".
toml::table parse_toml(const std::string& text, const std::string& source);

class TableReader {
 public:
  TableReader(const toml::table& table, std::string prefix);

  void read(const char* key, int64_t& out);
  void read(const char* key, uint64_t& out);
  void read(const char* key, double& out);
  void read(const char* key, bool& out);
  void read(const char* key, std::string& out);
  void read(const char* key, std::vector<int64_t>& out);
  // The same, then the value must lie in `range` (a double must also be finite).
  void read(const char* key, int64_t& out, const Range& range);
  void read(const char* key, double& out, const Range& range);
  void read(const char* key, std::vector<int64_t>& out, const Range& each);
  // An array of numbers (integers read as doubles), each finite and in `each`.
  void read(const char* key, std::vector<double>& out, const Range& each);
  const toml::node* get(const char* key);  // marks as known; null when absent
  void finish() const;

 private:
  std::string key_path(const char* key) const { return prefix_ + key; }
  void check(const char* key, double value, const Range& range, const std::string& shown) const;
  [[noreturn]] void wrong_type(const char* key, const toml::node& node, const char* want) const;

  const toml::table& table_;
  std::string prefix_;
  std::set<std::string> known_;
};

}  // namespace cohort::config_detail
