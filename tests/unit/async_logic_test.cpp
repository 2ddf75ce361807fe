// The parameter servers' pure parts: shard plans, the staleness rule, the wire
// header, and the local-SGD schedule.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>

#include "cohort/async/message.h"
#include "cohort/async/shard_plan.h"
#include "cohort/async/staleness.h"
#include "cohort/error.h"
#include "cohort/local_sgd.h"

namespace cohort {
namespace {

TEST(ShardPlan, EveryParameterHasOneOwnerAndBytesBalance) {
  // mlp 784-256-128-10 as bytes: two big weights, small biases.
  const std::vector<int64_t> bytes = {784 * 256 * 4, 256 * 4,      256 * 128 * 4,
                                      128 * 4,       128 * 10 * 4, 10 * 4};
  const ShardPlan plan = plan_shards(bytes, 2);
  ASSERT_EQ(plan.servers(), 2);
  std::vector<int> seen;
  for (int s = 0; s < 2; ++s) {
    EXPECT_TRUE(std::is_sorted(plan.params_of[s].begin(), plan.params_of[s].end()));
    int64_t total = 0;
    for (int p : plan.params_of[s]) {
      EXPECT_EQ(plan.server_of[p], s);
      total += bytes[p];
      seen.push_back(p);
    }
    EXPECT_EQ(total, plan.bytes_of[s]);
  }
  std::sort(seen.begin(), seen.end());
  EXPECT_EQ(seen, std::vector<int>({0, 1, 2, 3, 4, 5}));
  // The largest tensor alone on one server, everything else on the other.
  EXPECT_EQ(plan.params_of[0], std::vector<int>({0}));
}

TEST(ShardPlan, EqualSizesSpreadEvenly) {
  const ShardPlan plan = plan_shards(std::vector<int64_t>(8, 100), 4);
  for (int s = 0; s < 4; ++s) EXPECT_EQ(plan.bytes_of[s], 200);
}

TEST(ShardPlan, MoreServersThanTensorsIsRefused) {
  EXPECT_THROW(plan_shards({4, 4}, 3), InputError);
  EXPECT_THROW(plan_shards({4, 4}, 0), InputError);
}

TEST(StalenessGate, BoundZeroIsLockstep) {
  StalenessGate gate(2, 0);
  EXPECT_TRUE(gate.may_start(0));
  gate.pushed(0, 0);
  EXPECT_FALSE(gate.may_start(1));  // worker 1 has not pushed step 0
  gate.pushed(1, 0);
  EXPECT_TRUE(gate.may_start(1));
  EXPECT_EQ(gate.lead(1), 0);
}

TEST(StalenessGate, WorkersRunAtMostBoundStepsAhead) {
  StalenessGate gate(3, 2);
  for (int64_t step = 0; step < 5; ++step) gate.pushed(0, step);  // worker 0 did 5 steps
  gate.pushed(1, 0);
  // Slowest clocks: worker 1 at 1, worker 2 at 0.
  EXPECT_EQ(gate.slowest(), 0);
  EXPECT_TRUE(gate.may_start(2));
  EXPECT_FALSE(gate.may_start(3));
  EXPECT_EQ(gate.lead(5), 5);
  gate.retire(2);  // finished or dead: no longer the slowest
  EXPECT_EQ(gate.slowest(), 1);
  EXPECT_TRUE(gate.may_start(3));
  EXPECT_EQ(gate.live(), 2);
}

TEST(StalenessGate, NegativeBoundNeverWaits) {
  StalenessGate gate(2, -1);
  for (int64_t step = 0; step < 100; ++step) gate.pushed(0, step);
  EXPECT_TRUE(gate.may_start(100));
  EXPECT_EQ(gate.lead(100), 100);
}

TEST(PsHeader, RoundTrips) {
  PsHeader h;
  h.kind = PsKind::Push;
  h.worker = 3;
  h.step = 12345;
  h.payload = 1 << 20;
  h.lr = 0.0375;
  h.lead = 2;
  const PsHeader back = decode_header(encode_header(h));
  EXPECT_EQ(back.kind, h.kind);
  EXPECT_EQ(back.worker, h.worker);
  EXPECT_EQ(back.step, h.step);
  EXPECT_EQ(back.payload, h.payload);
  EXPECT_EQ(back.lr, h.lr);
  EXPECT_EQ(back.lead, h.lead);
}

TEST(PsHeader, DamagedHeadersAreRejectedBeforeAnyPayload) {
  const at::Tensor good = encode_header(PsHeader{});
  auto damaged = [&](int word, int64_t value) {
    at::Tensor t = good.clone();
    t[word] = value;
    return t;
  };
  EXPECT_THROW(decode_header(damaged(0, 42)), CommError);  // magic
  EXPECT_THROW(decode_header(damaged(1, kPsVersion + 1)), CommError);
  EXPECT_THROW(decode_header(damaged(2, 99)), CommError);  // kind
  EXPECT_THROW(decode_header(damaged(5, -1)), CommError);  // negative length
  EXPECT_THROW(decode_header(at::zeros({4}, at::kLong)), CommError);
  PsHeader h;
  h.payload = int64_t(1) << 40;  // a length no shard has
  EXPECT_THROW(check_payload(decode_header(encode_header(h)), 1000, 1), CommError);
}

TEST(LocalSgdSchedule, SynchronousThenEveryH) {
  const LocalSgdSchedule schedule{4, 3};
  std::vector<int64_t> averaged;
  for (int64_t step = 0; step < 14; ++step) {
    EXPECT_EQ(schedule.synchronous(step), step < 4);
    if (schedule.average_after(step)) averaged.push_back(step);
  }
  EXPECT_EQ(averaged, std::vector<int64_t>({6, 9, 12}));
}

}  // namespace
}  // namespace cohort
