#pragma once
#include <string>

namespace cohort {
// Creates the run folder and proves it writable before any work starts.
void prepare_run_dir(const std::string& run_dir);
// Writes `text` to run_dir/name through a temporary file and a rename.
void write_file_atomically(const std::string& path, const std::string& text);
// The whole file, or "" when it is missing or unreadable.
std::string read_file(const std::string& path);
}  // namespace cohort
