// Errors a user can act on. The CLI prints what() as one line and exits with
// exit_code(): 2 for bad input (config, arguments, files), 1 for anything else.
#pragma once

#include <stdexcept>
#include <string>

namespace cohort {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message, int exit_code = 1)
      : std::runtime_error(message), exit_code_(exit_code) {}
  int exit_code() const { return exit_code_; }

 private:
  int exit_code_;
};

// Bad configuration, arguments or files: the user must change an input.
class InputError : public Error {
 public:
  explicit InputError(const std::string& message) : Error(message, 2) {}
};

// A peer did not answer in time (collective, rendezvous, point-to-point).
class TimeoutError : public Error {
 public:
  explicit TimeoutError(const std::string& message) : Error(message, 1) {}
};

// A peer process failed or the communication backend reported an error.
class CommError : public Error {
 public:
  explicit CommError(const std::string& message) : Error(message, 1) {}
};

}  // namespace cohort
