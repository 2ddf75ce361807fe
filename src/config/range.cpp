#include "config/range.h"

#include <fmt/format.h>

#include <cmath>

namespace cohort::config_detail {

std::string Range::describe() const {
  const bool unbounded_above = std::isinf(hi);
  std::string text;
  if (lo == 0 && lo_open && unbounded_above) {
    text = "positive";
  } else if (unbounded_above) {
    text = fmt::format("{} {}", lo_open ? "more than" : "at least", lo);
  } else if (lo == 0 && lo_open) {
    text = fmt::format("positive and at most {}", hi);
  } else if (!lo_open && !hi_open) {
    text = fmt::format("from {} to {}", lo, hi);
  } else {
    text = fmt::format("in {}{}, {}{}", lo_open ? '(' : '[', lo, hi, hi_open ? ')' : ']');
  }
  if (*note) text += fmt::format(" ({})", note);
  return text;
}

}  // namespace cohort::config_detail
