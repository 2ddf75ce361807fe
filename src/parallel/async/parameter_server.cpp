#include "cohort/parameter_server.h"

#include <ATen/ATen.h>
#include <c10/util/irange.h>
#include <fmt/format.h>
#include <torch/optim/optimizer.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <deque>
#include <thread>

#include "cohort/async/message.h"
#include "cohort/async/staleness.h"
#include "cohort/error.h"
#include "cohort/optim.h"
#include "comm/message_tags.h"
#include "parallel/async/blocking_queue.h"

namespace cohort {
namespace {

std::string first_line(const std::string& text) { return text.substr(0, text.find('\n')); }

// A worker's message as its receiving thread hands it over, or why that
// worker can no longer be heard.
struct Request {
  int worker = 0;
  PsHeader header;
  at::Tensor payload;
  std::string error;
};

using Inbox = BlockingQueue<Request>;

// Receives worker `worker`'s requests until it finishes, dies or goes silent
// for the group's timeout. The header is checked before the payload is
// received; a malformed message drops the worker too: what sent it cannot be
// trusted with the parameters.
void receive_from(Communicator& comm, int rank, int worker, int64_t shard_numel, Inbox& inbox) {
  for (;;) {
    Request r;
    r.worker = worker;
    try {
      at::Tensor words = at::empty({kPsHeaderWords}, at::kLong);
      comm.recv(words, rank, tags::kPsRequestHeader);
      r.header = decode_header(words);
      if (r.header.kind == PsKind::Push) {
        check_payload(r.header, shard_numel, rank);
        r.payload = at::empty({shard_numel}, at::kFloat);
        comm.recv(r.payload, rank, tags::kPsRequestPayload);
      } else {
        check_payload(r.header, 0, rank);
      }
    } catch (const std::exception& e) {
      r.error = e.what();
    }
    const bool last = !r.error.empty() || r.header.kind == PsKind::Finish;
    inbox.push(std::move(r));
    if (last) return;
  }
}

}  // namespace

// Nested, not in the anonymous namespace: a member of a named class must not have
// a type of internal linkage (GCC warns once the file is part of a unity build).
struct ParameterServer::State {
  // A reply on its way: the tensors must live until the sends complete.
  struct InFlight {
    int worker = 0;
    at::Tensor header, payload;
    CommHandle header_sent, payload_sent;
  };

  // A worker waiting for parameters: for step `step`, or the final ones.
  struct Waiting {
    int worker = 0;
    int64_t step = 0;
    bool final = false;
  };

  CommunicatorPtr comm;
  ServerOptions options;
  // One flat buffer holds the shard; the optimiser sees views of it, so a reply
  // is one copy and a push one receive.
  at::Tensor flat, flat_grad;
  std::vector<at::Tensor> params;
  std::unique_ptr<torch::optim::Optimizer> optimizer;
  StalenessGate gate;
  std::vector<int64_t> read_version;  // applied pushes when each worker last read
  int64_t applied = 0;
  std::deque<InFlight> in_flight;
  std::vector<Waiting> waiting;
  ServerReport report;

  State(CommunicatorPtr c, ServerOptions o)
      : comm(std::move(c)),
        options(std::move(o)),
        gate(int(options.workers.size()), options.staleness),
        read_version(options.workers.size(), 0) {}

  int workers() const { return int(options.workers.size()); }

  int worker_of(int rank) const {
    for (int w = 0; w < workers(); ++w)
      if (options.workers[w] == rank) return w;
    throw CommError(
        fmt::format("parameter server {}: a message from rank {}, which is not a "
                    "worker of this job",
                    options.server_index, rank));
  }

  void reply(int worker, int64_t lead) {
    PsHeader h;
    h.kind = PsKind::Params;
    h.worker = worker;
    h.payload = flat.numel();
    h.lead = lead;
    InFlight f{worker, encode_header(h), flat.clone(), {}, {}};
    const int rank = options.workers[worker];
    std::vector<at::Tensor> header{f.header}, payload{f.payload};
    f.header_sent = comm->send_async(header, rank, tags::kPsReplyHeader);
    f.payload_sent = comm->send_async(payload, rank, tags::kPsReplyPayload);
    in_flight.push_back(std::move(f));
    read_version[worker] = applied;
    // Sends finish in order per peer; reaping the front keeps the queue short.
    while (!in_flight.empty() && in_flight.front().payload_sent.completed()) finish_front();
  }

  void finish_front() {
    InFlight f = std::move(in_flight.front());
    in_flight.pop_front();
    try {
      f.header_sent.wait();
      f.payload_sent.wait();
    } catch (const CommError& e) {
      lose(f.worker, e.what());
    }
  }

  void drain() {
    while (!in_flight.empty()) finish_front();
  }

  // A worker whose connection failed: it holds no one back any more, and the
  // job goes on with the others.
  void lose(int worker, const std::string& why) {
    if (std::count(report.lost_workers.begin(), report.lost_workers.end(), worker)) return;
    report.lost_workers.push_back(worker);
    gate.retire(worker);
    std::vector<Waiting> others;
    for (const auto& w : waiting)
      if (w.worker != worker) others.push_back(w);
    waiting = std::move(others);
    std::fprintf(stderr,
                 "parameter server %d: worker %d (rank %d) is gone; going on with %d worker%s "
                 "(%s)\n",
                 options.server_index, worker, options.workers[worker], gate.live(),
                 gate.live() == 1 ? "" : "s", first_line(why).c_str());
    std::fflush(stderr);
  }

  void apply(int worker, const PsHeader& h) {
    const double scale = 1.0 / workers();
    flat_grad.mul_(scale);
    double lr = h.lr;
    if (options.staleness_lr_scaling) {
      // Rounds of everyone's updates since this worker read its parameters
      // (Zhang et al., "Staleness-aware Async-SGD", IJCAI 2016).
      const int64_t rounds = (applied - read_version[worker]) / workers();
      lr /= double(1 + rounds);
    }
    set_learning_rate(*optimizer, lr);
    optimizer->step();
    ++applied;
    ++report.pushes;
    gate.pushed(worker, h.step);
    if (options.after_push) options.after_push(report.pushes);
  }

  // Answers every waiting worker the bound now lets go.
  void release() {
    std::vector<Waiting> still;
    for (const auto& w : waiting) {
      if (w.final ? gate.live() == 0 : gate.may_start(w.step)) {
        const int64_t lead = w.final ? 0 : gate.lead(w.step);
        report.max_lead = std::max(report.max_lead, lead);
        reply(w.worker, lead);
      } else {
        still.push_back(w);
      }
    }
    waiting = std::move(still);
  }
};

ParameterServer::ParameterServer(CommunicatorPtr comm, const std::vector<at::Tensor>& shard,
                                 const NetworkConfig& optimizer, ServerOptions options)
    : state_(std::make_unique<State>(std::move(comm), std::move(options))) {
  auto& s = *state_;
  std::vector<at::Tensor> flat_parts;
  for (const auto& p : shard) flat_parts.push_back(p.detach().reshape(-1));
  s.flat = at::cat(flat_parts).contiguous();
  s.flat_grad = at::zeros_like(s.flat);
  int64_t offset = 0;
  for (const auto& p : shard) {
    at::Tensor view = s.flat.narrow(0, offset, p.numel()).view(p.sizes());
    view.mutable_grad() = s.flat_grad.narrow(0, offset, p.numel()).view(p.sizes());
    s.params.push_back(view);
    offset += p.numel();
  }
  // Weight decay acts once per push, so W pushes decay as one step would.
  NetworkConfig per_push = optimizer;
  per_push.weight_decay = optimizer.weight_decay / double(s.workers());
  s.optimizer = make_optimizer(per_push, s.params);
}

ParameterServer::~ParameterServer() = default;

const std::vector<at::Tensor>& ParameterServer::parameters() const { return state_->params; }

ServerReport ParameterServer::run(TraceRecorder& trace) {
  auto& s = *state_;
  // One receiving thread per worker, blocked on that worker alone: Gloo fails a
  // receive from a peer whose connection dropped (a receive from any rank it
  // would not), so a dead worker is noticed at once and by name. The threads
  // only receive; this one applies, replies and decides.
  Inbox inbox;
  std::vector<std::thread> receivers;
  for (int w = 0; w < s.workers(); ++w) {
    receivers.emplace_back(
        [&, w] { receive_from(*s.comm, s.options.workers[w], w, s.flat_grad.numel(), inbox); });
  }
  struct JoinAll {
    std::vector<std::thread>& threads;
    ~JoinAll() {
      for (auto& t : threads)
        if (t.joinable()) t.detach();  // only on an error: the process is about to end
    }
  } join_all{receivers};
  while (s.gate.live() > 0 || !s.waiting.empty()) {
    Request r = inbox.pop();
    const int rank = s.options.workers[r.worker];
    const auto start = TraceClock::now();
    if (!r.error.empty()) {
      s.lose(r.worker, r.error);
    } else if (r.header.kind == PsKind::Push) {
      s.flat_grad.copy_(r.payload);
      s.apply(r.worker, r.header);
      s.waiting.push_back({r.worker, r.header.step + 1, false});
      trace.span(fmt::format("apply push of worker {} step {}", r.worker, r.header.step + 1),
                 TraceLane::Compute, start, TraceClock::now());
    } else if (r.header.kind == PsKind::Pull) {
      s.reply(r.worker, 0);
    } else if (r.header.kind == PsKind::Finish) {
      s.gate.retire(r.worker);
      s.waiting.push_back({r.worker, 0, true});
    } else {
      throw CommError(fmt::format("parameter server {}: rank {} sent parameters to a server",
                                  s.options.server_index, rank));
    }
    s.release();
  }
  for (auto& t : receivers) t.join();
  s.drain();
  return s.report;
}

}  // namespace cohort
