#include "comm/delayed_communicator.h"

#include <fmt/format.h>

#include <cstdlib>
#include <sstream>
#include <thread>

#include "cohort/error.h"

namespace cohort {
namespace {

class DelayedCommunicator : public Communicator {
 public:
  DelayedCommunicator(CommunicatorPtr inner, std::chrono::microseconds delay)
      : inner_(std::move(inner)), delay_(delay) {}

  int rank() const override { return inner_->rank(); }
  int size() const override { return inner_->size(); }
  const std::string& name() const override { return inner_->name(); }
  std::chrono::milliseconds timeout() const override { return inner_->timeout(); }
  int global_rank(int group_rank) const override { return inner_->global_rank(group_rank); }

  CommHandle allreduce_async(std::vector<at::Tensor>& tensors, ReduceOp op) override {
    wait();
    return inner_->allreduce_async(tensors, op);
  }
  CommHandle broadcast_async(std::vector<at::Tensor>& tensors, int root) override {
    wait();
    return inner_->broadcast_async(tensors, root);
  }
  CommHandle allgather_async(std::vector<at::Tensor>& output, at::Tensor& input) override {
    wait();
    return inner_->allgather_async(output, input);
  }
  CommHandle reduce_scatter_async(at::Tensor& output, std::vector<at::Tensor>& input,
                                  ReduceOp op) override {
    wait();
    return inner_->reduce_scatter_async(output, input, op);
  }
  CommHandle send_async(std::vector<at::Tensor>& tensors, int dst, int tag) override {
    wait();
    return inner_->send_async(tensors, dst, tag);
  }
  CommHandle recv_async(std::vector<at::Tensor>& tensors, int src, int tag) override {
    return inner_->recv_async(tensors, src, tag);
  }
  void barrier() override {
    wait();
    inner_->barrier();
  }
  std::shared_ptr<Communicator> new_group(const std::vector<int>& ranks, const std::string& name,
                                          std::chrono::milliseconds timeout) override {
    auto group = inner_->new_group(ranks, name, timeout);
    return group ? delayed(group, delay_) : nullptr;
  }

 private:
  void wait() const { std::this_thread::sleep_for(delay_); }

  CommunicatorPtr inner_;
  std::chrono::microseconds delay_;
};

}  // namespace

CommunicatorPtr delayed(CommunicatorPtr inner, std::chrono::microseconds delay) {
  return std::make_shared<DelayedCommunicator>(std::move(inner), delay);
}

CommunicatorPtr delayed_from_environment(CommunicatorPtr comm, int rank) {
  const char* ms = std::getenv("COHORT_COMM_DELAY_MS");
  if (!comm || !ms || !*ms) return comm;
  char* end = nullptr;
  const double delay_ms = std::strtod(ms, &end);
  if (*end != '\0' || delay_ms < 0)
    throw InputError(
        fmt::format("COHORT_COMM_DELAY_MS = '{}': give a delay in milliseconds, "
                    "0 or more",
                    ms));
  if (const char* ranks = std::getenv("COHORT_COMM_DELAY_RANKS"); ranks && *ranks) {
    bool mine = false;
    std::stringstream list(ranks);
    for (std::string item; std::getline(list, item, ',');) {
      try {
        mine = mine || std::stoi(item) == rank;
      } catch (const std::exception&) {
        throw InputError(
            fmt::format("COHORT_COMM_DELAY_RANKS = '{}': give ranks separated by "
                        "commas, like 1,3",
                        ranks));
      }
    }
    if (!mine) return comm;
  }
  return delayed(std::move(comm), std::chrono::microseconds(int64_t(delay_ms * 1000)));
}

}  // namespace cohort
