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

// The run was stopped by SIGINT or SIGTERM (after its final checkpoint): the
// exit status is 128 + the signal, as for a process the signal killed.
class Interrupted : public Error {
 public:
  Interrupted(const std::string& message, int signal) : Error(message, 128 + signal) {}
};

// Training stopped because a loss became NaN or infinite.
class DivergedError : public Error {
 public:
  explicit DivergedError(const std::string& message) : Error(message, 1) {}
};

}  // namespace cohort
