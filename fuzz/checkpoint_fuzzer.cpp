// A checkpoint folder's two files: manifest.json, then after a NUL byte state.pt.
// Bad input must end in InputError. The manifest is what this target explores:
// its checks, and the checks of state.pt's structure against it once a seed's
// state.pt passes the checksum. Mutated state.pt bytes stop at the checksum, on
// purpose: behind it is libtorch's unpickler, which trusts the lengths it reads
// (a forged 2 KB file made it allocate and fill gigabytes) and is not ours to fix.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "cohort/checkpoint.h"
#include "cohort/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  const size_t nul = input.find('\0');
  std::vector<char> state;
  if (nul != std::string::npos) state.assign(input.begin() + long(nul) + 1, input.end());
  try {
    cohort::parse_checkpoint(input.substr(0, nul), state, "fuzz-checkpoint");
  } catch (const cohort::InputError&) {
  }
  return 0;
}
