#include "train/record/run_dir.h"

#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "cohort/error.h"

namespace cohort {
namespace fs = std::filesystem;
namespace {

// Everything a run writes at its top level (cohort report's page goes where --out says).
constexpr const char* kRunEntries[] = {"config.toml", "metrics.jsonl", "summary.json",
                                       "trace.json",  "timeline.svg",  "checkpoints",
                                       "tensorboard"};

bool pid_alive(long pid) { return pid > 0 && (::kill(pid_t(pid), 0) == 0 || errno == EPERM); }

// The PID in a "NAME.tmp-PID" name, or 0.
long temporary_owner(const std::string& name) {
  const auto at = name.rfind(".tmp-");
  if (at == std::string::npos) return 0;
  char* end = nullptr;
  const long pid = std::strtol(name.c_str() + at + 5, &end, 10);
  return *end == '\0' ? pid : 0;
}

void remove_stale_in(const fs::path& dir) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const long owner = temporary_owner(entry.path().filename().string());
    if (owner != 0 && (owner == ::getpid() || !pid_alive(owner))) fs::remove_all(entry.path(), ec);
  }
}

}  // namespace

void check_run_dir_writable(const std::string& run_dir) {
  fs::path probe = fs::absolute(run_dir);
  std::error_code ec;
  while (!fs::exists(probe, ec) && probe.has_parent_path() && probe != probe.parent_path())
    probe = probe.parent_path();
  if (!fs::is_directory(probe, ec) || ::access(probe.c_str(), W_OK) != 0) {
    const std::string why = fs::is_directory(probe, ec) ? std::strerror(EACCES)
                                                        : probe.string() + " is not a folder";
    throw InputError(fmt::format("output folder {} is not writable: {} (choose another with --out)",
                                 run_dir, why));
  }
}

void prepare_run_dir(const std::string& run_dir) {
  std::error_code ec;
  fs::create_directories(run_dir, ec);
  if (ec || !fs::is_directory(run_dir) || ::access(run_dir.c_str(), W_OK) != 0) {
    throw InputError(fmt::format("output folder {} is not writable{} (choose another with --out)",
                                 run_dir, ec ? ": " + ec.message() : ""));
  }
}

bool holds_run(const std::string& run_dir) {
  std::error_code ec;
  for (const char* name : kRunEntries)
    if (fs::exists(fs::path(run_dir) / name, ec)) return true;
  return false;
}

void refuse_existing_run(const std::string& run_dir) {
  if (!holds_run(run_dir)) return;
  throw InputError(fmt::format(
      "{} already holds a run: continue it with --resume {}, or replace it with --overwrite, or "
      "choose another --out",
      run_dir, run_dir));
}

void clear_run(const std::string& run_dir) {
  for (const char* name : kRunEntries) {
    std::error_code ec;
    fs::remove_all(fs::path(run_dir) / name, ec);
    if (ec) {
      throw InputError(fmt::format("--overwrite cannot remove {}/{}: {}", run_dir, name,
                                   ec.message()));
    }
  }
}

void remove_stale_temporaries(const std::string& run_dir) {
  std::error_code ec;
  if (!fs::is_directory(run_dir, ec)) return;
  remove_stale_in(run_dir);
  if (fs::is_directory(fs::path(run_dir) / "checkpoints", ec))
    remove_stale_in(fs::path(run_dir) / "checkpoints");
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

void write_file_atomically(const std::string& path, const std::string& text) {
  const std::string tmp = fmt::format("{}.tmp-{}", path, ::getpid());
  bool written = false;
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << text;
    out.flush();
    written = bool(out);
  }
  const int err = errno;
  std::error_code ec;
  if (written) fs::rename(tmp, path, ec);
  if (!written || ec) {
    const std::string why = written ? ec.message() : std::strerror(err ? err : EIO);
    fs::remove(tmp, ec);
    throw Error(fmt::format("cannot write {}: {}", path, why));
  }
}

}  // namespace cohort
