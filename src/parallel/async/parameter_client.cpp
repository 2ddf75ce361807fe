#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "cohort/async/message.h"
#include "cohort/error.h"
#include "cohort/parameter_server.h"
#include "comm/message_tags.h"

namespace cohort {

struct ParameterClient::State {
  CommunicatorPtr comm;
  std::vector<at::Tensor> params;
  ShardPlan plan;
  std::vector<int> servers;
  int worker = 0;
  std::vector<at::Tensor> received;  // per server: its shard, flat
  bool finished = false;

  // Sends one request to every server (with each server's gradients for a
  // push) and loads their replies into the parameters. Reply receives are
  // posted before the requests go out, so no server ever waits on this worker.
  int64_t exchange_or_explain(PsKind kind, int64_t step, double lr);

  int64_t exchange(PsKind kind, int64_t step, double lr) {
    const int n = int(servers.size());
    std::vector<at::Tensor> reply_words(n);
    std::vector<CommHandle> reply_headers(n), sends;
    std::vector<at::Tensor> keep_alive;
    for (int s = 0; s < n; ++s) {
      reply_words[s] = at::empty({kPsHeaderWords}, at::kLong);
      std::vector<at::Tensor> t{reply_words[s]};
      reply_headers[s] = comm->recv_async(t, servers[s], tags::kPsReplyHeader);
    }
    for (int s = 0; s < n; ++s) {
      PsHeader h;
      h.kind = kind;
      h.worker = worker;
      h.step = step;
      h.lr = lr;
      at::Tensor payload;
      if (kind == PsKind::Push) {
        std::vector<at::Tensor> grads;
        for (int p : plan.params_of[s]) {
          const at::Tensor& g = params[p].grad();
          grads.push_back(g.defined() ? g.reshape(-1) : at::zeros({params[p].numel()}));
        }
        payload = at::cat(grads);
        h.payload = payload.numel();
      }
      std::vector<at::Tensor> header{encode_header(h)};
      keep_alive.push_back(header[0]);
      sends.push_back(comm->send_async(header, servers[s], tags::kPsRequestHeader));
      if (payload.defined()) {
        std::vector<at::Tensor> body{payload};
        keep_alive.push_back(payload);
        sends.push_back(comm->send_async(body, servers[s], tags::kPsRequestPayload));
      }
    }
    for (auto& h : sends) h.wait();
    int64_t lead = 0;
    for (int s = 0; s < n; ++s) {
      reply_headers[s].wait();
      const PsHeader h = decode_header(reply_words[s]);
      if (h.kind != PsKind::Params)
        throw CommError(fmt::format("worker {}: server rank {} answered with message kind {}",
                                    worker, servers[s], int(h.kind)));
      check_payload(h, received[s].numel(), servers[s]);
      comm->recv(received[s], servers[s], tags::kPsReplyPayload);
      lead = std::max(lead, h.lead);
    }
    c10::NoGradGuard no_grad;
    for (int s = 0; s < n; ++s) {
      int64_t offset = 0;
      for (int p : plan.params_of[s]) {
        const int64_t numel = params[p].numel();
        params[p].copy_(received[s].narrow(0, offset, numel).view(params[p].sizes()));
        offset += numel;
      }
    }
    return lead;
  }
};

ParameterClient::ParameterClient(CommunicatorPtr comm, std::vector<at::Tensor> parameters,
                                 ShardPlan plan, std::vector<int> servers, int worker)
    : state_(std::make_unique<State>()) {
  auto& s = *state_;
  s.comm = std::move(comm);
  s.params = std::move(parameters);
  s.plan = std::move(plan);
  s.servers = std::move(servers);
  s.worker = worker;
  if (int(s.servers.size()) != s.plan.servers())
    throw Error(
        fmt::format("{} server ranks for a plan of {} shards", s.servers.size(), s.plan.servers()));
  for (int server = 0; server < s.plan.servers(); ++server) {
    int64_t numel = 0;
    for (int p : s.plan.params_of[server]) numel += s.params.at(p).numel();
    s.received.push_back(at::empty({numel}, at::kFloat));
  }
}

ParameterClient::~ParameterClient() = default;

// Without a server its shard is gone: the job cannot go on, and says why.
int64_t ParameterClient::State::exchange_or_explain(PsKind kind, int64_t step, double lr) {
  try {
    return exchange(kind, step, lr);
  } catch (const CommError& e) {
    if (std::string(e.what()).find("parameter-server message") != std::string::npos) throw;
    const std::string what = e.what();
    throw CommError(fmt::format(
        "worker {} lost its parameter servers (ranks {}): their shards of the model are gone, so "
        "the job stops; resume from the last checkpoint ({})",
        worker, fmt::join(servers, ", "), what.substr(0, what.find('\n'))));
  }
}

int64_t ParameterClient::push_pull(int64_t step, double lr) {
  return state_->exchange_or_explain(PsKind::Push, step, lr);
}

void ParameterClient::pull() { state_->exchange_or_explain(PsKind::Pull, 0, 0); }

void ParameterClient::finish() {
  if (state_->finished) return;
  state_->finished = true;
  state_->exchange_or_explain(PsKind::Finish, 0, 0);
}

}  // namespace cohort
