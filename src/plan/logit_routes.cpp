#include "cohort/logit_routes.h"

namespace cohort {
namespace {

// mask[g]: whether `rank`'s members train on row g.
std::vector<char> needed_mask(const MemberLayouts& layouts, int rank, int64_t batch_rows) {
  std::vector<char> mask(size_t(batch_rows), 0);
  for (size_t k : layouts.trained_on(rank)) {
    const int replica = layouts.logits_replica(k, rank);
    if (replica < 0) continue;  // a pipeline's first stages: no loss here
    for (int64_t g = replica; g < batch_rows; g += layouts.replicas(k)) mask[size_t(g)] = 1;
  }
  return mask;
}

}  // namespace

std::vector<int64_t> rows_needed(const MemberLayouts& layouts, int rank, int64_t batch_rows) {
  const std::vector<char> mask = needed_mask(layouts, rank, batch_rows);
  std::vector<int64_t> rows;
  for (int64_t g = 0; g < batch_rows; ++g)
    if (mask[size_t(g)]) rows.push_back(g);
  return rows;
}

std::vector<LogitRoute> logit_routes(const MemberLayouts& layouts, int from, int to,
                                     int64_t batch_rows) {
  std::vector<LogitRoute> routes;
  if (from == to) return routes;
  const std::vector<char> needed = needed_mask(layouts, to, batch_rows);
  for (size_t k : layouts.trained_on(from)) {
    const int replica = layouts.logits_replica(k, from);
    if (replica < 0) continue;
    LogitRoute route{k, {}};
    for (int64_t g = replica; g < batch_rows; g += layouts.replicas(k))
      if (needed[size_t(g)]) route.rows.push_back(g);
    if (!route.rows.empty()) routes.push_back(std::move(route));
  }
  return routes;
}

LogitTraffic logit_traffic(const MemberLayouts& layouts, int64_t batch_rows) {
  const int n = layouts.world_size();
  const size_t members = layouts.members();
  LogitTraffic t;
  t.sent_rows.assign(size_t(n), std::vector<int64_t>(members, 0));
  t.received_rows.assign(size_t(n), std::vector<int64_t>(members, 0));
  t.sources.assign(size_t(n), 0);
  std::vector<std::vector<char>> needed(static_cast<size_t>(n));
  std::vector<int64_t> needing(size_t(batch_rows), 0);  // how many ranks need each row
  for (int r = 0; r < n; ++r) {
    needed[size_t(r)] = needed_mask(layouts, r, batch_rows);
    for (int64_t g = 0; g < batch_rows; ++g) needing[size_t(g)] += needed[size_t(r)][size_t(g)];
  }
  std::vector<char> heard(static_cast<size_t>(n));
  for (int r = 0; r < n; ++r) {
    const std::vector<char>& mine = needed[size_t(r)];
    for (size_t k : layouts.trained_on(r)) {
      const int replica = layouts.logits_replica(k, r);
      if (replica < 0) continue;
      for (int64_t g = replica; g < batch_rows; g += layouts.replicas(k))
        t.sent_rows[size_t(r)][k] += needing[size_t(g)] - mine[size_t(g)];
    }
    std::fill(heard.begin(), heard.end(), 0);
    for (size_t k = 0; k < members; ++k) {
      const int own = layouts.logits_replica(k, r);
      const int stages = layouts.stages(k);
      for (int64_t g = 0; g < batch_rows; ++g) {
        const int replica = int(g % layouts.replicas(k));
        if (!mine[size_t(g)] || replica == own) continue;
        ++t.received_rows[size_t(r)][k];
        heard[size_t(layouts.ranks(k)[size_t(replica * stages + stages - 1)])] = 1;
      }
    }
    for (char h : heard) t.sources[size_t(r)] += h;
  }
  return t;
}

}  // namespace cohort
