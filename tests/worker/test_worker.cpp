// A worker program for tests/dist: started by `cohort launch`, it runs one
// scenario and says "OK <scenario>" on success. Each check compares against
// values every rank can compute alone, so a wrong collective cannot pass.
#include <signal.h>
#include <unistd.h>

#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>

#include "cohort/comm.h"
#include "cohort/error.h"
#include "cohort/mesh.h"
#include "cohort/rendezvous.h"

using namespace cohort;

namespace {

int failures = 0;

void expect_equal(const at::Tensor& got, const at::Tensor& want, const std::string& what,
                  double rtol = 0) {
  bool ok =
      got.sizes() == want.sizes() && (rtol == 0 ? got.equal(want) : got.allclose(want, rtol, 0));
  if (!ok) {
    ++failures;
    std::cout << "MISMATCH " << what << "\n  got  " << got.flatten().slice(0, 0, 6) << "\n  want "
              << want.flatten().slice(0, 0, 6) << std::endl;
  }
}

// Rank r's contribution: small integers, exact in float32, different per rank
// and per element so a permuted or partial reduction shows.
at::Tensor input_of(int r, int64_t n = 1000, int salt = 0) {
  return torch::arange(n, torch::kFloat32) * (r + 1) + r * 7 + salt;
}

void check_collectives(Communicator& comm, const std::string& tag) {
  const int w = comm.size(), me = comm.rank();
  at::Tensor sum = torch::zeros({1000}), mx = input_of(0), mn = input_of(0);
  for (int r = 0; r < w; ++r) {
    sum += input_of(r);
    mx = torch::maximum(mx, input_of(r));
    mn = torch::minimum(mn, input_of(r));
  }
  auto t = input_of(me);
  comm.allreduce(t, ReduceOp::Sum);
  expect_equal(t, sum, tag + " allreduce sum");
  t = input_of(me);
  comm.allreduce(t, ReduceOp::Average);
  // One rounding of the division on top of an exact sum.
  expect_equal(t, sum / w, tag + " allreduce average", 1e-6);
  t = input_of(me);
  comm.allreduce(t, ReduceOp::Max);
  expect_equal(t, mx, tag + " allreduce max");
  t = input_of(me);
  comm.allreduce(t, ReduceOp::Min);
  expect_equal(t, mn, tag + " allreduce min");

  auto ints = torch::full({5}, me + 1, torch::kInt64);
  comm.allreduce(ints);
  expect_equal(ints, torch::full({5}, static_cast<int64_t>(w) * (w + 1) / 2, torch::kInt64),
               tag + " allreduce int64");

  // Two in flight at once, waited in reverse order.
  std::vector<at::Tensor> a{input_of(me, 64)}, b{input_of(me, 128, 3)};
  auto ha = comm.allreduce_async(a, ReduceOp::Sum);
  auto hb = comm.allreduce_async(b, ReduceOp::Sum);
  hb.wait();
  ha.wait();
  at::Tensor want_a = torch::zeros({64}), want_b = torch::zeros({128});
  for (int r = 0; r < w; ++r) {
    want_a += input_of(r, 64);
    want_b += input_of(r, 128, 3);
  }
  expect_equal(a[0], want_a, tag + " async allreduce a");
  expect_equal(b[0], want_b, tag + " async allreduce b");

  for (int root = 0; root < w; ++root) {
    auto x = me == root ? input_of(root, 100, 11) : torch::zeros({100});
    comm.broadcast(x, root);
    expect_equal(x, input_of(root, 100, 11), tag + " broadcast from " + std::to_string(root));
  }

  auto gathered = comm.allgather(input_of(me, 50));
  if (static_cast<int>(gathered.size()) != w) ++failures;
  for (int r = 0; r < w && r < static_cast<int>(gathered.size()); ++r)
    expect_equal(gathered[r], input_of(r, 50), tag + " allgather slot " + std::to_string(r));

  std::vector<at::Tensor> chunks;
  for (int i = 0; i < w; ++i) chunks.push_back(input_of(me, 30, 100 * i).view({5, 6}));
  at::Tensor out = torch::empty({5, 6});
  comm.reduce_scatter_async(out, chunks, ReduceOp::Sum).wait();
  at::Tensor want = torch::zeros({30});
  for (int r = 0; r < w; ++r) want += input_of(r, 30, 100 * me);
  expect_equal(out, want.view({5, 6}), tag + " reduce_scatter sum");
  comm.reduce_scatter_async(out, chunks, ReduceOp::Average).wait();
  expect_equal(out, want.view({5, 6}) / w, tag + " reduce_scatter average", 1e-6);

  if (w > 1) {  // a ring: everyone sends right and receives from the left
    const int right = (me + 1) % w, left = (me + w - 1) % w;
    std::vector<at::Tensor> outgoing{input_of(me, 20, 5)}, incoming{torch::zeros({20})};
    auto hs = comm.send_async(outgoing, right, 7);
    auto hr = comm.recv_async(incoming, left, 7);
    hr.wait();
    hs.wait();
    expect_equal(incoming[0], input_of(left, 20, 5), tag + " send/recv ring");
  }
  comm.barrier();
}

int scenario_collectives(const WorldInfo& world) {
  auto comm = init_world(world, std::chrono::seconds(60));
  check_collectives(*comm, "world");
  try {
    auto ints = torch::ones({3}, torch::kInt32);
    comm->allreduce(ints, ReduceOp::Average);
    ++failures;
    std::printf("MISMATCH Average on int32 was accepted\n");
  } catch (const InputError&) {
  }
  return failures;
}

int scenario_mesh(const WorldInfo& world) {
  auto comm = init_world(world, std::chrono::seconds(60));
  const int w = comm->size();
  MeshLayout layout = w % 2 == 0 ? MeshLayout({{"data", 2}, {"pipeline", w / 2}})
                                 : MeshLayout({{"data", w}, {"pipeline", 1}});
  DeviceMesh mesh(layout, comm);
  for (const auto& dim : layout.dims()) {
    auto group = mesh.group(dim.name);
    auto slice = layout.slice(dim.name, comm->rank());
    if (group->size() != dim.size || group->global_rank(group->rank()) != comm->rank()) {
      ++failures;
      std::printf("MISMATCH group %s has size %d\n", group->name().c_str(), group->size());
    }
    // The sum of the global ranks in the slice tells that the right ranks met.
    auto t = torch::full({4}, static_cast<double>(comm->rank()), torch::kFloat64);
    group->allreduce(t);
    double want = 0;
    for (int r : slice) want += r;
    expect_equal(t, torch::full({4}, want, torch::kFloat64), "mesh " + group->name());
    check_collectives(*group, group->name());
    if (mesh.group(dim.name) != group) ++failures;  // created once, reused
  }
  return failures;
}

int scenario_file(const WorldInfo& world, const std::string& path) {
  auto comm = init_world_file(path, world, std::chrono::seconds(60));
  auto t = torch::full({3}, static_cast<float>(world.rank + 1));
  comm->allreduce(t);
  expect_equal(t, torch::full({3}, world.world_size * (world.world_size + 1) / 2.0f), "file");
  return failures;
}

// Rank 1 dies by SIGKILL after a few steps; the others keep reducing.
int scenario_die(const WorldInfo& world) {
  auto comm = init_world(world, std::chrono::seconds(60));
  for (int step = 0;; ++step) {
    if (world.rank == 1 && step == 3) {
      std::printf("about to die\n");
      std::fflush(stdout);
      raise(SIGKILL);
    }
    auto t = torch::ones({1 << 16});
    comm->allreduce(t);
  }
}

// Rank 1 stops answering; the others must time out with a message that names
// the collective and the group. Only the group under test has the short
// timeout: starting processes on a loaded machine may take longer than 3 s.
// "poll": the wait polls first (as DDP's does) for 10 minutes, longer than the
// test allows the launch; only polling capped at the 3 s timeout ends in time.
int scenario_hang(const WorldInfo& world, const std::string& how) {
  auto world_group = init_world(world, std::chrono::seconds(60));
  auto comm = world_group->new_group({0, 1}, "hang", std::chrono::seconds(3));
  comm->barrier();
  if (world.rank == 1) std::this_thread::sleep_for(std::chrono::minutes(2));
  auto t = torch::ones({16});
  try {
    if (how == "poll") {
      std::vector<at::Tensor> tensors{t};
      comm->allreduce_async(tensors, ReduceOp::Sum).wait(std::chrono::minutes(10));
    } else {
      comm->allreduce(t);
    }
  } catch (const TimeoutError& e) {
    std::printf("TimeoutError: %s\n", e.what());
    std::fflush(stdout);
    return 3;
  }
  return 0;
}

// Fails on its first run (rank 0), succeeds after the launcher restarts it.
int scenario_fail_once(const WorldInfo& world, const std::string& flag) {
  if (world.rank == 0 && access(flag.c_str(), F_OK) != 0) {
    std::ofstream(flag) << "ran\n";
    std::printf("failing on purpose\n");
    return 5;
  }
  auto comm = init_world(world, std::chrono::seconds(60));
  auto t = torch::ones({2});
  comm->allreduce(t);
  return t[0].item<float>() == world.world_size ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: cohort_test_worker SCENARIO [ARG]\n");
    return 2;
  }
  const std::string scenario = argv[1];
  const std::string arg = argc > 2 ? argv[2] : "";
  torch::set_num_threads(1);
  try {
    WorldInfo world = world_info_from_environment();
    int rc = 0;
    if (scenario == "collectives")
      rc = scenario_collectives(world);
    else if (scenario == "mesh")
      rc = scenario_mesh(world);
    else if (scenario == "file")
      rc = scenario_file(world, arg);
    else if (scenario == "die")
      rc = scenario_die(world);
    else if (scenario == "hang")
      rc = scenario_hang(world, arg);
    else if (scenario == "fail_once")
      rc = scenario_fail_once(world, arg);
    else if (scenario == "sleep")
      std::this_thread::sleep_for(std::chrono::minutes(5));
    else {
      std::fprintf(stderr, "unknown scenario %s\n", scenario.c_str());
      return 2;
    }
    if (rc == 0) std::printf("OK %s\n", scenario.c_str());
    return rc == 0 ? 0 : (rc > 100 ? 1 : rc);
  } catch (const Error& e) {
    const char* kind = dynamic_cast<const TimeoutError*>(&e) ? "TimeoutError"
                       : dynamic_cast<const CommError*>(&e)  ? "CommError"
                       : dynamic_cast<const InputError*>(&e) ? "InputError"
                                                             : "Error";
    std::printf("%s: %s\n", kind, e.what());
    return e.exit_code();
  }
}
