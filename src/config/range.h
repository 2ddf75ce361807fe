// The allowed values of one numeric config key. Every numeric key is read with
// its Range, so a value's range and finiteness are checked in one place, at load
// time, with the key (and file and line) named in the error.
#pragma once

#include <limits>
#include <string>

namespace cohort::config_detail {

struct Range {
  double lo = -std::numeric_limits<double>::infinity();
  double hi = std::numeric_limits<double>::infinity();
  bool lo_open = false, hi_open = false;
  const char* note = "";  // what a special value means, e.g. "0 = off"

  bool contains(double v) const {
    return v == v && (lo_open ? v > lo : v >= lo) && (hi_open ? v < hi : v <= hi);
  }
  // "at least 1", "positive", "from 0 to 1", "in [0, 1)".
  std::string describe() const;
};

// Upper bounds are there to stop typos (1e30 steps, a 1e9-wide layer) before
// they reach libtorch, an allocator or a chrono conversion, not to forbid real
// runs: each is far past what the models and this machine use.
inline Range at_least(double lo, double hi, const char* note = "") {
  return Range{lo, hi, false, false, note};
}
inline Range positive(double hi, const char* note = "") { return Range{0, hi, true, false, note}; }
inline Range unit_interval_open_above() { return Range{0, 1, false, true, ""}; }

}  // namespace cohort::config_detail
