#include "cohort/parameter_server.h"

#include <ATen/ATen.h>
#include <c10/util/irange.h>
#include <fmt/format.h>
#include <torch/optim/optimizer.h>

#include <cstdio>
#include <deque>

#include "cohort/async/message.h"
#include "cohort/async/staleness.h"
#include "cohort/error.h"
#include "cohort/optim.h"
#include "parallel/async/ps_tags.h"

namespace cohort {
namespace {

// A reply on its way: the tensors must live until the sends complete.
struct InFlight {
  at::Tensor header, payload;
  CommHandle header_sent, payload_sent;
};

// A worker waiting for parameters: for step `step`, or the final ones.
struct Waiting {
  int worker = 0;
  int64_t step = 0;
  bool final = false;
};

}  // namespace

struct ParameterServer::State {
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
    InFlight f{encode_header(h), flat.clone(), {}, {}};
    const int rank = options.workers[worker];
    std::vector<at::Tensor> header{f.header}, payload{f.payload};
    f.header_sent = comm->send_async(header, rank, ps::kReplyHeader);
    f.payload_sent = comm->send_async(payload, rank, ps::kReplyPayload);
    in_flight.push_back(std::move(f));
    read_version[worker] = applied;
    // Sends finish in order per peer; reaping the front keeps the queue short.
    while (!in_flight.empty() && in_flight.front().payload_sent.completed()) {
      in_flight.front().header_sent.wait();
      in_flight.front().payload_sent.wait();
      in_flight.pop_front();
    }
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
  at::Tensor header_words = at::empty({kPsHeaderWords}, at::kLong);
  while (s.gate.live() > 0 || !s.waiting.empty()) {
    const int rank = s.comm->recv_any(header_words, ps::kRequestHeader);
    const auto start = TraceClock::now();
    const PsHeader h = decode_header(header_words);
    const int worker = s.worker_of(rank);
    switch (h.kind) {
      case PsKind::Push: {
        check_payload(h, s.flat_grad.numel(), rank);
        s.comm->recv(s.flat_grad, rank, ps::kRequestPayload);
        s.apply(worker, h);
        s.waiting.push_back({worker, h.step + 1, false});
        trace.span(fmt::format("apply push of worker {} step {}", worker, h.step + 1),
                   TraceLane::Compute, start, TraceClock::now());
        break;
      }
      case PsKind::Pull:
        check_payload(h, 0, rank);
        s.reply(worker, 0);
        break;
      case PsKind::Finish:
        check_payload(h, 0, rank);
        s.gate.retire(worker);
        s.waiting.push_back({worker, 0, true});
        break;
      case PsKind::Params:
        throw CommError(fmt::format("parameter server {}: rank {} sent parameters to a server",
                                    s.options.server_index, rank));
    }
    s.release();
  }
  for (auto& f : s.in_flight) {
    f.header_sent.wait();
    f.payload_sent.wait();
  }
  s.in_flight.clear();
  return s.report;
}

}  // namespace cohort
