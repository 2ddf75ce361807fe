#include "util/json_error.h"

#include <nlohmann/json.hpp>

namespace cohort {

std::string describe_json_error(const std::exception& e) {
  std::string text = e.what();
  // The library's id ("[json.exception.type_error.302] ") means nothing to a user.
  if (text.rfind("[json.exception.", 0) == 0) {
    const auto close = text.find("] ");
    if (close != std::string::npos) text.erase(0, close + 2);
  }
  if (dynamic_cast<const nlohmann::json::parse_error*>(&e)) {
    const std::string prefix = "parse error ";
    if (text.rfind(prefix, 0) == 0) text.erase(0, prefix.size());
    return "not valid JSON " + text;
  }
  return text;
}

}  // namespace cohort
