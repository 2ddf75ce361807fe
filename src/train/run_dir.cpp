#include "train/run_dir.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "cohort/error.h"

namespace cohort {

void prepare_run_dir(const std::string& run_dir) {
  std::error_code ec;
  std::filesystem::create_directories(run_dir, ec);
  if (ec || !std::filesystem::is_directory(run_dir) || ::access(run_dir.c_str(), W_OK) != 0) {
    throw InputError(fmt::format("output folder {} is not writable{} (choose another with --out)",
                                 run_dir, ec ? ": " + ec.message() : ""));
  }
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

void write_file_atomically(const std::string& path, const std::string& text) {
  const std::string tmp = fmt::format("{}.tmp-{}", path, ::getpid());
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << text;
    out.flush();
    if (!out) throw Error(fmt::format("cannot write {}: {}", tmp, std::strerror(errno)));
  }
  std::filesystem::rename(tmp, path);
}

}  // namespace cohort
