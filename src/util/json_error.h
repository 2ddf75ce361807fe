// nlohmann's exceptions in words a user can act on: "[json.exception.parse_error.101]
// parse error at line 1, column 43: syntax error while parsing ..." becomes
// "not valid JSON at line 1, column 43 (...)", "key 'step' not found" stays so.
#pragma once

#include <exception>
#include <string>

namespace cohort {

std::string describe_json_error(const std::exception& e);

}  // namespace cohort
