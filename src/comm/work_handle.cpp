#include "comm/work_handle.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <thread>

#include "cohort/error.h"

namespace cohort {
namespace {

bool mentions_timeout(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text.find("timed out") != std::string::npos;
}

// c10::Error messages carry a C++ backtrace after the first line; users need
// only the first line.
std::string first_line(const std::string& text) {
  auto end = text.find('\n');
  return end == std::string::npos ? text : text.substr(0, end);
}

// A few microseconds between polls: each poll takes the Work's mutex, which the
// backend's thread needs to mark it done; the pauses leave an SMT sibling the
// core, and the yield lets the backend's threads run here if they are waiting
// for a core (polling without it made the mlp's steps about 1.6x slower).
void relax_between_polls() {
  for (int i = 0; i < 100; ++i) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    asm volatile("yield");
#endif
  }
  std::this_thread::yield();
}

}  // namespace

void raise_comm_failure(const OperationLabel& label, const std::exception& cause,
                        const std::function<std::string()>& missing) {
  const std::string where = fmt::format("{} #{} on group '{}' (rank {} of {})", label.op,
                                        label.sequence, label.group, label.rank, label.size);
  const std::string backend = first_line(cause.what());
  if (mentions_timeout(backend)) {
    std::string who = missing ? missing() : std::string();
    // A peer on another host that went silent is a host or network lost, not
    // a program calling collectives out of order.
    const bool host_lost = who.find(" host ") != std::string::npos;
    throw TimeoutError(fmt::format(
        "{} timed out after {} ms; {}. {} (backend: {})", where, label.timeout.count(),
        who.empty() ? "could not tell which ranks did not answer" : who,
        host_lost ? "Check that host and the network to it, then resume from the last checkpoint"
                  : "Every rank must call the same collectives in the same order; if a rank is "
                    "just slow, raise the timeout",
        backend));
  }
  throw CommError(fmt::format(
      "{} failed: {}. A peer process probably exited or lost its connection; see its output", where,
      backend));
}

void CommHandle::Impl::wait(std::chrono::microseconds poll_first) {
  if (done_) return;
  try {
    std::chrono::milliseconds timeout = label_.timeout;
    if (poll_first.count() > 0) {
      const auto start = std::chrono::steady_clock::now();
      const auto until =
          start + (timeout.count() > 0 ? std::min<std::chrono::microseconds>(poll_first, timeout)
                                       : poll_first);
      while (!completed() && std::chrono::steady_clock::now() < until) {
        relax_between_polls();
      }
      if (timeout.count() > 0) {
        // What polling used comes off the timeout; at least 1 ms is left, since
        // a zero timeout would mean "wait forever" to c10d.
        const auto spent = std::chrono::duration_cast<std::chrono::milliseconds>(
            std::chrono::steady_clock::now() - start);
        timeout = std::max(timeout - spent, std::chrono::milliseconds(1));
      }
    }
    work_->wait(timeout);
  } catch (const std::exception& e) {
    raise_comm_failure(label_, e, missing_);
  }
  done_ = true;
  if (finish_) finish_();
}

CommHandle::CommHandle(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

void CommHandle::wait() { wait(std::chrono::microseconds(0)); }

void CommHandle::wait(std::chrono::microseconds poll_first) {
  if (!impl_) throw Error("CommHandle::wait on an empty handle (no operation was started)");
  impl_->wait(poll_first);
}

bool CommHandle::completed() const { return impl_ == nullptr || impl_->completed(); }

void Communicator::allreduce(at::Tensor& tensor, ReduceOp op) {
  std::vector<at::Tensor> tensors{tensor};
  allreduce_async(tensors, op).wait();
}

void Communicator::broadcast(at::Tensor& tensor, int root) {
  std::vector<at::Tensor> tensors{tensor};
  broadcast_async(tensors, root).wait();
}

std::vector<at::Tensor> Communicator::allgather(const at::Tensor& input) {
  std::vector<at::Tensor> output;
  at::Tensor in = input;
  allgather_async(output, in).wait();
  return output;
}

void Communicator::send(const at::Tensor& tensor, int dst, int tag) {
  std::vector<at::Tensor> tensors{tensor};
  send_async(tensors, dst, tag).wait();
}

void Communicator::recv(at::Tensor& tensor, int src, int tag) {
  std::vector<at::Tensor> tensors{tensor};
  recv_async(tensors, src, tag).wait();
}

}  // namespace cohort
