#include "comm/work_handle.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

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

}  // namespace

void raise_comm_failure(const OperationLabel& label, const std::exception& cause,
                        const std::function<std::string()>& missing) {
  const std::string where =
      fmt::format("{} #{} on group '{}' (rank {} of {})", label.op, label.sequence, label.group,
                  label.rank, label.size);
  const std::string backend = first_line(cause.what());
  if (mentions_timeout(backend)) {
    std::string who = missing ? missing() : std::string();
    throw TimeoutError(fmt::format(
        "{} timed out after {} ms; {}. Every rank must call the same collectives in the same "
        "order; if a rank is just slow, raise the timeout (backend: {})",
        where, label.timeout.count(),
        who.empty() ? "could not tell which ranks did not answer"
                    : "ranks that did not answer: " + who,
        backend));
  }
  throw CommError(fmt::format(
      "{} failed: {}. A peer process probably exited or lost its connection; see its output",
      where, backend));
}

void CommHandle::Impl::wait() {
  if (done_) return;
  try {
    work_->wait(label_.timeout);
  } catch (const std::exception& e) {
    raise_comm_failure(label_, e, missing_);
  }
  done_ = true;
  if (finish_) finish_();
}

CommHandle::CommHandle(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

void CommHandle::wait() {
  if (!impl_) throw Error("CommHandle::wait on an empty handle (no operation was started)");
  impl_->wait();
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
