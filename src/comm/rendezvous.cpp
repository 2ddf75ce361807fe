// Meeting the other ranks: a store (TCP, rank 0 serves; or a shared file),
// prefixed by the job id, and the Gloo world group on top of it.
#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <torch/csrc/distributed/c10d/FileStore.hpp>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef USE_C10D_NCCL  // libtorch built with NCCL (its torch_cuda target defines it)
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif
#include <fmt/format.h>

#include <cstdlib>

#include "cohort/error.h"
#include "cohort/rendezvous.h"
#include "comm/process_group_communicator.h"

namespace cohort {
namespace {

bool is_loopback(const std::string& addr) {
  return addr == "localhost" || addr.rfind("127.", 0) == 0 || addr == "::1";
}

// The local address the kernel would use to reach the master: connecting a UDP
// socket sends nothing but selects the route, so multi-host jobs bind to the
// right interface without naming it.
std::string address_towards(const std::string& master, int port) {
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* result = nullptr;
  if (getaddrinfo(master.c_str(), std::to_string(port).c_str(), &hints, &result) != 0 || !result)
    throw InputError(
        fmt::format("cannot resolve MASTER_ADDR '{}'; give an IPv4 address or a "
                    "host name this machine can resolve",
                    master));
  std::string local;
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  if (fd >= 0 && connect(fd, result->ai_addr, result->ai_addrlen) == 0) {
    sockaddr_in own{};
    socklen_t len = sizeof(own);
    char text[INET_ADDRSTRLEN] = {};
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&own), &len) == 0 &&
        inet_ntop(AF_INET, &own.sin_addr, text, sizeof(text)))
      local = text;
  }
  if (fd >= 0) close(fd);
  freeaddrinfo(result);
  if (local.empty())
    throw CommError(fmt::format("no network route from this host to MASTER_ADDR '{}'", master));
  return local;
}

std::string bind_address(const WorldInfo& world) {
  if (const char* forced = std::getenv("COHORT_BIND_ADDR"); forced && *forced) return forced;
  if (is_loopback(world.master_addr)) return "127.0.0.1";
  return address_towards(world.master_addr, world.master_port);
}

c10::intrusive_ptr<c10d::Backend> make_gloo(std::shared_ptr<::gloo::transport::Device> device,
                                             c10::intrusive_ptr<c10d::Store> store, int rank,
                                             int size, std::chrono::milliseconds timeout) {
  auto options = c10d::ProcessGroupGloo::Options::create(timeout);
  options->devices = {std::move(device)};
  return c10::make_intrusive<c10d::ProcessGroupGloo>(store, rank, size, options);
}

// Gloo for every group; with NCCL, NCCL beside it for the CUDA tensors (each on
// its own prefix of the group's store).
ProcessGroupFactory backend_factory(const std::string& bind_addr, Backend backend) {
  auto device = c10d::ProcessGroupGloo::createDeviceForHostname(bind_addr);
  if (backend == Backend::Gloo) {
    return [device](c10::intrusive_ptr<c10d::Store> store, int rank, int size,
                    std::chrono::milliseconds timeout) {
      return GroupBackends{make_gloo(device, std::move(store), rank, size, timeout), nullptr};
    };
  }
#ifdef USE_C10D_NCCL
  return [device](c10::intrusive_ptr<c10d::Store> store, int rank, int size,
                  std::chrono::milliseconds timeout) {
    GroupBackends backends;
    backends.cpu =
        make_gloo(device, c10::make_intrusive<c10d::PrefixStore>("gloo", store), rank, size, timeout);
    auto options = c10d::ProcessGroupNCCL::Options::create();
    options->timeout = timeout;
    backends.cuda = c10::make_intrusive<c10d::ProcessGroupNCCL>(
        c10::make_intrusive<c10d::PrefixStore>("nccl", store), rank, size, options);
    return backends;
  };
#else
  throw InputError(
      "the NCCL backend needs a Cohort built against a libtorch with CUDA and NCCL; this "
      "build has no NCCL, use Gloo (train.device = \"cpu\")");
#endif
}

std::vector<int> all_ranks(int world_size) {
  std::vector<int> ranks(world_size);
  for (int r = 0; r < world_size; ++r) ranks[r] = r;
  return ranks;
}

// `address`: where this rank communicates from, published for the others to
// name it should it go silent; `store_host`: where the store is served.
CommunicatorPtr make_world(c10::intrusive_ptr<c10d::Store> store, const WorldInfo& world,
                           ProcessGroupFactory factory, std::chrono::milliseconds timeout,
                           const std::string& address, const std::string& store_host) {
  auto prefixed = c10::make_intrusive<c10d::PrefixStore>(world.job_id, std::move(store));
  prefixed->set(fmt::format("hosts/{}", world.rank),
                std::vector<uint8_t>(address.begin(), address.end()));
  auto directory = std::make_shared<const JobDirectory>(JobDirectory{prefixed, store_host});
  return std::make_shared<ProcessGroupCommunicator>("world", all_ranks(world.world_size),
                                                    world.rank, prefixed, std::move(factory),
                                                    timeout, std::move(directory));
}

}  // namespace

std::string nccl_version() {
#ifdef USE_C10D_NCCL
  return c10d::getNcclVersion();
#else
  return "";
#endif
}

CommunicatorPtr init_world(const WorldInfo& world, std::chrono::milliseconds timeout,
                           Backend backend) {
  const std::string address = bind_address(world);
  auto factory = backend_factory(address, backend);
  c10::intrusive_ptr<c10d::Store> store;
  const auto start = std::chrono::steady_clock::now();
  try {
    c10d::TCPStoreOptions opts;
    opts.port = static_cast<std::uint16_t>(world.master_port);
    opts.isServer = world.rank == 0 && !world.agent_store;
    opts.numWorkers = world.world_size;
    opts.waitWorkers = false;  // The world group's own rendezvous waits for everyone.
    opts.timeout = timeout;
    store = c10::make_intrusive<c10d::TCPStore>(world.master_addr, opts);
  } catch (const std::exception& e) {
    // Say how long it really took: a refused connection fails long before the timeout.
    const double waited =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::string what = e.what();
    what = what.substr(0, what.find('\n'));
    while (!what.empty() && (what.back() == '.' || what.back() == ' ')) what.pop_back();
    std::string message = fmt::format(
        "rank {} could not meet rank 0 at {}:{} (gave up after {:.1f} s, timeout {:g} s): {}. Check "
        "MASTER_ADDR/MASTER_PORT, that rank 0 is running and that the port is free",
        world.rank, world.master_addr, world.master_port, waited, timeout.count() / 1000.0, what);
    if (what.find("imed out") != std::string::npos) throw TimeoutError(message);
    throw CommError(message);
  }
  return make_world(store, world, std::move(factory), timeout, address,
                    "host " + world.master_addr);
}

CommunicatorPtr init_world_file(const std::string& path, const WorldInfo& world,
                                std::chrono::milliseconds timeout, Backend backend) {
  c10::intrusive_ptr<c10d::Store> store;
  try {
    auto file = c10::make_intrusive<c10d::FileStore>(path, world.world_size);
    file->setTimeout(timeout);
    store = file;
  } catch (const std::exception& e) {
    std::string what = e.what();
    throw CommError(
        fmt::format("cannot use rendezvous file '{}': {}", path, what.substr(0, what.find('\n'))));
  }
  // A file store is for hosts that share a file system, not a network master.
  const std::string address = bind_address(world);
  return make_world(store, world, backend_factory(address, backend), timeout, address,
                    "file " + path);
}

CommunicatorPtr meet_world(const WorldInfo& world, std::chrono::milliseconds timeout,
                           Backend backend) {
  if (!world.rendezvous_file.empty())
    return init_world_file(world.rendezvous_file, world, timeout, backend);
  return init_world(world, timeout, backend);
}

}  // namespace cohort
