// Mutual learning between members with their own layouts moves only the
// predictions a rank needs. A rank needs its peers' logits on the rows of the
// global batch its own members compute losses on (a pipelined member's on its
// last stage); row g of member k exists only on the rank that computed it: its
// replica's, or that replica's last stage (member_layout.h: replica i of D
// takes rows i, i + D, ...). The routes say what every rank sends every other,
// so sender and receiver agree on each message without a handshake. Pure: no
// processes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "cohort/member_layout.h"

namespace cohort {

struct LogitRoute {
  size_t member;
  std::vector<int64_t> rows;  // of the global batch, ascending
};

// The rows of the global batch `rank`'s members compute losses on, ascending.
std::vector<int64_t> rows_needed(const MemberLayouts& layouts, int rank, int64_t batch_rows);

// What `from` sends `to`: for each member whose logits `from` computes, in
// config order, its logits on the rows its replica there computed that `to` needs. Members with
// no such row are left out; nothing when from == to.
std::vector<LogitRoute> logit_routes(const MemberLayouts& layouts, int from, int to,
                                     int64_t batch_rows);

// What one exchange moves, per rank: the rows of each member's logits it sends
// (summed over receivers) and receives, and how many ranks it hears from. The
// cost model's input, counted in O(ranks x members x batch) without listing
// every pair's routes.
struct LogitTraffic {
  std::vector<std::vector<int64_t>> sent_rows;      // [rank][member]
  std::vector<std::vector<int64_t>> received_rows;  // [rank][member]
  std::vector<int> sources;                         // [rank]
};

LogitTraffic logit_traffic(const MemberLayouts& layouts, int64_t batch_rows);

}  // namespace cohort
