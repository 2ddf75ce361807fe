// A config file's text, and after a NUL byte `--set` overrides one per line, as
// the CLI passes them to load_config. Bad input must end in InputError; a config
// that loads must also survive to_toml's promise: its text loads back to the same
// Config.
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

#include "cohort/config.h"
#include "cohort/error.h"
#include "fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  const size_t nul = input.find('\0');
  std::vector<std::string> overrides;
  if (nul != std::string::npos) {
    std::istringstream lines(input.substr(nul + 1));
    for (std::string line; std::getline(lines, line);) overrides.push_back(line);
  }
  cohort::Config config;
  try {
    config = cohort::parse_config_text(input.substr(0, nul), "fuzz.toml", overrides);
  } catch (const cohort::InputError&) {
    return 0;
  }
  const std::string resolved = cohort::to_toml(config);
  std::string again;
  try {
    again = cohort::to_toml(cohort::parse_config_text(resolved, "resolved.toml", {}));
  } catch (const cohort::InputError& e) {
    FUZZ_CHECK(false, "the resolved config does not load: %s\n%s", e.what(), resolved.c_str());
  }
  FUZZ_CHECK(again == resolved, "loading the resolved config changes it:\n%s\n---\n%s",
             resolved.c_str(), again.c_str());
  return 0;
}
