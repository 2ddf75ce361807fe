#include "comm/process_group_communicator.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <future>
#include <thread>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>

#include "cohort/error.h"
#include "comm/work_handle.h"

namespace cohort {
namespace {

c10d::ReduceOp to_c10d(ReduceOp op) {
  switch (op) {
    case ReduceOp::Sum:
    case ReduceOp::Average:  // Gloo has no AVG: sum, then divide when done.
      return c10d::ReduceOp::SUM;
    case ReduceOp::Max:
      return c10d::ReduceOp::MAX;
    case ReduceOp::Min:
      return c10d::ReduceOp::MIN;
  }
  throw Error("unknown ReduceOp");
}

void check_average_dtype(const at::Tensor& t, ReduceOp op) {
  if (op == ReduceOp::Average && !at::isFloatingType(t.scalar_type()))
    throw InputError(fmt::format(
        "ReduceOp::Average needs floating-point tensors, got {}; use Sum and divide yourself",
        c10::toString(t.scalar_type())));
}

// How long a rank that timed out waits for the other members to say that they
// timed out too: members that reached the collective expire within about the
// same moment; the ones that never do are the ones that did not answer.
constexpr std::chrono::milliseconds kReportWindow{2000};
// Past the window, how long a store that answers at all takes to do so.
constexpr std::chrono::milliseconds kStoreGrace{3000};

// The address a rank published at the start, or "" when it cannot be read.
std::string host_of(const JobDirectory* directory, int global_rank) {
  const std::string key = fmt::format("hosts/{}", global_rank);
  if (!directory || !directory->store->check({key})) return "";
  const auto bytes = directory->store->get(key);
  return std::string(bytes.begin(), bytes.end());
}

// Which members of `ranks` (global) did not report reaching collective
// `sequence` within `window`, as a phrase naming each with its host when that
// is not this rank's own; "" when all did.
std::string ranks_not_reporting(c10d::Store& store, const JobDirectory* directory,
                                const std::vector<int>& ranks, int rank, uint64_t sequence,
                                std::chrono::milliseconds window) {
  const std::string prefix = fmt::format("timeouts/{}/", sequence);
  store.set(prefix + std::to_string(rank), std::vector<uint8_t>{1});
  const auto deadline = std::chrono::steady_clock::now() + window;
  const int size = static_cast<int>(ranks.size());
  std::vector<bool> seen(size, false);
  seen[rank] = true;
  for (;;) {
    for (int r = 0; r < size; ++r)
      if (!seen[r]) seen[r] = store.check({prefix + std::to_string(r)});
    if (std::all_of(seen.begin(), seen.end(), [](bool s) { return s; }) ||
        std::chrono::steady_clock::now() >= deadline)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  const std::string own_host = host_of(directory, ranks[rank]);
  std::vector<std::string> missing;
  for (int r = 0; r < size; ++r) {
    if (seen[r]) continue;
    const std::string host = host_of(directory, ranks[r]);
    missing.push_back(host.empty() || host == own_host
                          ? std::to_string(ranks[r])
                          : fmt::format("{} (on host {})", ranks[r], host));
  }
  if (missing.empty()) return "";
  return fmt::format("ranks that did not answer: global rank{} {}", missing.size() > 1 ? "s" : "",
                     fmt::join(missing, ", "));
}

// The chunks as one flat tensor: a view where they already lie end to end in
// one buffer (ZeRO's packed gradients), a copy otherwise.
at::Tensor packed_chunks(const std::vector<at::Tensor>& chunks) {
  const at::Tensor& first = chunks.front();
  bool adjacent = first.is_contiguous();
  for (size_t i = 1; adjacent && i < chunks.size(); ++i)
    adjacent = chunks[i].is_contiguous() && chunks[i].is_alias_of(first) &&
               chunks[i].storage_offset() ==
                   first.storage_offset() + static_cast<int64_t>(i) * first.numel();
  const int64_t total = first.numel() * static_cast<int64_t>(chunks.size());
  if (adjacent) return first.as_strided({total}, {1});
  std::vector<at::Tensor> flat;
  for (const auto& t : chunks) flat.push_back(t.reshape({-1}));
  return at::cat(flat);
}

}  // namespace

ProcessGroupCommunicator::ProcessGroupCommunicator(std::string name, std::vector<int> global_ranks,
                                                   int my_global_rank,
                                                   c10::intrusive_ptr<c10d::Store> store,
                                                   ProcessGroupFactory factory,
                                                   std::chrono::milliseconds timeout,
                                                   std::shared_ptr<const JobDirectory> directory)
    : name_(std::move(name)),
      ranks_(std::move(global_ranks)),
      global_rank_(my_global_rank),
      store_(std::move(store)),
      directory_(std::move(directory)),
      factory_(std::move(factory)),
      timeout_(timeout) {
  auto it = std::find(ranks_.begin(), ranks_.end(), my_global_rank);
  if (it == ranks_.end())
    throw Error(fmt::format("rank {} is not a member of group '{}' ({})", my_global_rank, name_,
                            fmt::join(ranks_, ", ")));
  rank_ = static_cast<int>(it - ranks_.begin());
  try {
    backends_ = factory_(store_, rank_, size(), timeout_);
  } catch (const std::exception& e) {
    OperationLabel label{"group creation", name_, rank_, size(), 0, timeout_};
    raise_comm_failure(label, e, {});
  }
}

int ProcessGroupCommunicator::global_rank(int group_rank) const {
  if (group_rank < 0 || group_rank >= size())
    throw InputError(
        fmt::format("rank {} is outside group '{}' of size {}", group_rank, name_, size()));
  return ranks_[group_rank];
}

c10d::Backend& ProcessGroupCommunicator::backend_for(const std::vector<at::Tensor>& tensors,
                                                    const std::string& op) const {
  const bool cuda = !tensors.empty() && tensors.front().is_cuda();
  for (const auto& t : tensors)
    if (t.is_cuda() != cuda)
      throw InputError(fmt::format("{} on group '{}' mixes CPU and CUDA tensors; move them to one "
                                   "device", op, name_));
  if (!cuda) return *backends_.cpu;
  if (!backends_.cuda)
    throw InputError(fmt::format("{} on group '{}' got CUDA tensors, but the group has no NCCL "
                                 "backend; start the job with Backend::Nccl (train.device = "
                                 "\"cuda\")", op, name_));
  return *backends_.cuda;
}

void ProcessGroupCommunicator::check_peer(int peer, const char* what) const {
  if (peer < 0 || peer >= size())
    throw InputError(
        fmt::format("{} rank {} is outside group '{}' of size {}", what, peer, name_, size()));
}

CommHandle ProcessGroupCommunicator::start(
    const std::string& op, const std::function<c10::intrusive_ptr<c10d::Work>()>& issue,
    std::function<void()> finish) {
  const uint64_t sequence = ++sequence_;
  OperationLabel label{op, name_, rank_, size(), sequence, timeout_};
  c10::intrusive_ptr<c10d::Work> work;
  try {
    work = issue();
  } catch (const std::exception& e) {
    raise_comm_failure(label, e, {});
  }
  auto missing = [this, sequence] { return missing_ranks(sequence); };
  return CommHandle(
      std::make_shared<CommHandle::Impl>(std::move(work), label, std::move(finish), missing));
}

std::string ProcessGroupCommunicator::missing_ranks(uint64_t sequence) {
  // On its own thread, with everything it needs copied: a store whose host is
  // cut off leaves TCPStore's reads blocked for good (they have no timeout), and
  // this rank must still report and exit. The thread is left behind then.
  auto answer = std::make_shared<std::promise<std::string>>();
  std::future<std::string> told = answer->get_future();
  const auto window = std::min(kReportWindow, timeout_);
  std::thread([answer, store = store_, directory = directory_, ranks = ranks_, rank = rank_, window,
               sequence] {
    std::string who;
    try {
      who = ranks_not_reporting(*store, directory.get(), ranks, rank, sequence, window);
    } catch (const std::exception&) {
      // The store itself is gone (rank 0 died): nothing to tell.
    }
    answer->set_value(who);
  }).detach();
  if (told.wait_for(window + kStoreGrace) == std::future_status::ready) return told.get();
  return fmt::format(
      "the job's store (on {}) did not answer either: that host, or the network to it, is lost",
      directory_ ? directory_->store_host : "rank 0's host");
}

CommHandle ProcessGroupCommunicator::allreduce_async(std::vector<at::Tensor>& tensors,
                                                     ReduceOp op) {
  for (auto& t : tensors) check_average_dtype(t, op);
  c10d::AllreduceOptions opts;
  opts.reduceOp = to_c10d(op);
  opts.timeout = timeout_;
  std::function<void()> finish;
  if (op == ReduceOp::Average && size() > 1)
    finish = [tensors, n = size()]() mutable {
      for (auto& t : tensors) t.div_(n);
    };
  return start(
      "allreduce", [&] { return backend_for(tensors, "allreduce").allreduce(tensors, opts); },
      std::move(finish));
}

CommHandle ProcessGroupCommunicator::broadcast_async(std::vector<at::Tensor>& tensors, int root) {
  check_peer(root, "broadcast root");
  c10d::BroadcastOptions opts;
  opts.rootRank = root;
  opts.rootTensor = 0;
  opts.timeout = timeout_;
  return start("broadcast",
               [&] { return backend_for(tensors, "broadcast").broadcast(tensors, opts); });
}

CommHandle ProcessGroupCommunicator::allgather_async(std::vector<at::Tensor>& output,
                                                     at::Tensor& input) {
  if (output.empty())
    for (int r = 0; r < size(); ++r) output.push_back(at::empty_like(input));
  if (static_cast<int>(output.size()) != size())
    throw InputError(fmt::format("allgather on group '{}' needs {} output tensors, got {}", name_,
                                 size(), output.size()));
  c10d::AllgatherOptions opts;
  opts.timeout = timeout_;
  return start("allgather", [&] {
    std::vector<std::vector<at::Tensor>> outputs{output};
    std::vector<at::Tensor> inputs{input};
    return backend_for(inputs, "allgather").allgather(outputs, inputs, opts);
  });
}

// NCCL reduces and scatters in one collective, each rank receiving its chunk
// only. Gloo's reduce_scatter (PyTorch 2.8 and later) is itself one allreduce
// per rank (pytorch/pytorch#149869) and older ones have none, so on CPU every
// chunk is packed into one buffer, allreduced once, and this rank keeps its
// own: as much traffic as DDP's allreduce, in one collective instead of N.
// Chunks that already lie end to end in one buffer are reduced where they are.
CommHandle ProcessGroupCommunicator::reduce_scatter_async(at::Tensor& output,
                                                          std::vector<at::Tensor>& input,
                                                          ReduceOp op) {
  if (static_cast<int>(input.size()) != size())
    throw InputError(fmt::format("reduce_scatter on group '{}' needs {} input tensors, got {}",
                                 name_, size(), input.size()));
  for (auto& t : input) {
    if (!t.sizes().equals(output.sizes()))
      throw InputError(fmt::format(
          "reduce_scatter on group '{}': every input must have the output's shape", name_));
  }
  check_average_dtype(output, op);
  if (output.is_cuda()) return reduce_scatter_nccl(output, input, op);
  std::vector<at::Tensor> packed{packed_chunks(input)};
  c10d::AllreduceOptions opts;
  opts.reduceOp = to_c10d(op);
  opts.timeout = timeout_;
  const int64_t chunk = output.numel();
  auto finish = [packed, output, chunk, r = rank_, n = size(), op]() mutable {
    auto mine = packed[0].narrow(0, r * chunk, chunk).view(output.sizes());
    output.copy_(mine);
    if (op == ReduceOp::Average) output.div_(n);
  };
  return start(
      "reduce_scatter", [&] { return backend_for(packed, "reduce_scatter").allreduce(packed, opts); },
      finish);
}

// Unverified: compiled here, never run (no GPU has been lent; docs/gpu.md).
CommHandle ProcessGroupCommunicator::reduce_scatter_nccl(at::Tensor& output,
                                                         std::vector<at::Tensor>& input,
                                                         ReduceOp op) {
  c10d::ReduceScatterOptions opts;
  opts.reduceOp = to_c10d(op);
  opts.timeout = timeout_;
  std::function<void()> finish;
  if (op == ReduceOp::Average && size() > 1)
    finish = [output, n = size()]() mutable { output.div_(n); };
  std::vector<at::Tensor> outputs{output};
  std::vector<std::vector<at::Tensor>> inputs{input};
  return start(
      "reduce_scatter",
      [&] { return backend_for(input, "reduce_scatter").reduce_scatter(outputs, inputs, opts); },
      std::move(finish));
}

CommHandle ProcessGroupCommunicator::send_async(std::vector<at::Tensor>& tensors, int dst,
                                                int tag) {
  check_peer(dst, "send destination");
  return start("send", [&] { return backend_for(tensors, "send").send(tensors, dst, tag); });
}

CommHandle ProcessGroupCommunicator::recv_async(std::vector<at::Tensor>& tensors, int src,
                                                int tag) {
  check_peer(src, "recv source");
  return start("recv", [&] { return backend_for(tensors, "recv").recv(tensors, src, tag); });
}

void ProcessGroupCommunicator::barrier() {
  c10d::BarrierOptions opts;
  opts.timeout = timeout_;
  start("barrier", [&] { return backends_.cpu->barrier(opts); }).wait();
}

std::shared_ptr<Communicator> ProcessGroupCommunicator::new_group(
    const std::vector<int>& ranks, const std::string& name, std::chrono::milliseconds timeout) {
  // Counted on every rank, member or not, so the prefixes agree everywhere.
  const uint64_t index = ++groups_created_;
  for (int r : ranks)
    if (std::find(ranks_.begin(), ranks_.end(), r) == ranks_.end())
      throw InputError(fmt::format("new_group '{}': rank {} is not in group '{}'", name, r, name_));
  if (std::find(ranks.begin(), ranks.end(), global_rank_) == ranks.end()) return nullptr;
  auto store =
      c10::make_intrusive<c10d::PrefixStore>(fmt::format("group{}/{}", index, name), store_);
  return std::make_shared<ProcessGroupCommunicator>(name, ranks, global_rank_, store, factory_,
                                                    timeout.count() > 0 ? timeout : timeout_,
                                                    directory_);
}

}  // namespace cohort
