#include "train/process/fault_injection.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <optional>
#include <sstream>
#include <string>

#include "cohort/error.h"

namespace cohort {
namespace {

struct Fault {
  int rank = 0;
  int64_t step = 0;
  std::string at = "step";
  std::string once;  // a file: the fault fires only while it does not exist
  int signal = SIGKILL;
};

std::optional<Fault> fault_from_environment() {
  const char* spec = std::getenv("COHORT_INJECT_FAULT");
  if (!spec || !*spec) return std::nullopt;
  Fault fault;
  std::stringstream items(spec);
  for (std::string item; std::getline(items, item, ',');) {
    const auto eq = item.find('=');
    const std::string key = item.substr(0, eq),
                      value = eq == std::string::npos ? "" : item.substr(eq + 1);
    try {
      if (key == "rank")
        fault.rank = std::stoi(value);
      else if (key == "step")
        fault.step = std::stoll(value);
      else if (key == "at" && (value == "step" || value == "checkpoint"))
        fault.at = value;
      else if (key == "once" && !value.empty())
        fault.once = value;
      else if (key == "signal" && (value == "kill" || value == "stop"))
        fault.signal = value == "kill" ? SIGKILL : SIGSTOP;
      else
        throw std::invalid_argument(key);
    } catch (const std::exception&) {
      throw InputError(
          fmt::format("COHORT_INJECT_FAULT = '{}': expected rank=R,step=S[,at=step|"
                      "checkpoint][,once=FILE][,signal=kill|stop]",
                      spec));
    }
  }
  return fault;
}

int my_rank() {
  const char* rank = std::getenv("RANK");
  return rank ? std::atoi(rank) : 0;
}

}  // namespace

void fault_point(const char* at, int64_t step) {
  static const std::optional<Fault> fault = fault_from_environment();
  if (!fault || fault->step != step || fault->at != at || fault->rank != my_rank()) return;
  if (!fault->once.empty()) {
    // Exclusive creation: of the attempts that reach this point, only the first dies.
    const int fd = ::open(fault->once.c_str(), O_CREAT | O_EXCL | O_WRONLY, 0644);
    if (fd < 0) return;
    ::close(fd);
  }
  ::raise(fault->signal);
}

}  // namespace cohort
