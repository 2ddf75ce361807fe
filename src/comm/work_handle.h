// CommHandle::Impl: one c10d::Work in flight plus what must happen once it is
// done (Gloo lacks Average and reduce-scatter, so those finish on our side).
#pragma once

#include <torch/csrc/distributed/c10d/Work.hpp>

#include <chrono>
#include <functional>
#include <string>

#include "cohort/comm.h"

namespace cohort {

// Names the operation in errors: "allreduce #12 on group 'data{0,2}'".
struct OperationLabel {
  std::string op;
  std::string group;
  int rank = 0;
  int size = 1;
  uint64_t sequence = 0;
  std::chrono::milliseconds timeout{0};
};

// Turns the exception of a failed or expired wait into TimeoutError or
// CommError naming the operation; `missing` says which ranks did not answer, as
// a phrase ("ranks that did not answer: global rank 1"), or "" when it cannot tell.
[[noreturn]] void raise_comm_failure(const OperationLabel& label, const std::exception& cause,
                                     const std::function<std::string()>& missing);

class CommHandle::Impl {
 public:
  Impl(c10::intrusive_ptr<c10d::Work> work, OperationLabel label, std::function<void()> finish = {},
       std::function<std::string()> missing = {})
      : work_(std::move(work)),
        label_(std::move(label)),
        finish_(std::move(finish)),
        missing_(std::move(missing)) {}

  void wait(std::chrono::microseconds poll_first = std::chrono::microseconds(0));
  bool completed() const { return done_ || work_->isCompleted(); }

 private:
  c10::intrusive_ptr<c10d::Work> work_;
  OperationLabel label_;
  std::function<void()> finish_;
  std::function<std::string()> missing_;
  bool done_ = false;
};

}  // namespace cohort
