#include "io/input_file.h"

#include <fmt/format.h>

#include <fstream>
#include <iterator>

#include "cohort/error.h"

namespace cohort {

std::vector<char> read_input_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw InputError(fmt::format("{}: cannot be read (no such file, or no permission)", path));
  return std::vector<char>(std::istreambuf_iterator<char>(in), {});
}

}  // namespace cohort
