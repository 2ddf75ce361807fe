// A whole input file (data, weights) read at once, or an InputError naming it.
#pragma once

#include <string>
#include <vector>

namespace cohort {

// The file's bytes; InputError "<path>: cannot be read (...)" when it cannot be
// opened. (Run-folder files, which may be absent, use read_file in run_dir.h.)
std::vector<char> read_input_file(const std::string& path);

}  // namespace cohort
