// Choosing the port rank 0's store will listen on.
#include <fmt/format.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

#include "cohort/error.h"
#include "cohort/launch.h"

namespace cohort {

PortRange quiet_port_range(const std::string& ip_local_port_range) {
  std::istringstream in(ip_local_port_range);
  int low = 0, high = 0;
  constexpr PortRange kFallback{0, 0};
  if (!(in >> low >> high) || low < 1 || high < low || high > 65535) return kFallback;
  // Below the ephemeral range where there is room (Linux's default starts at
  // 32768), else above it; a range that leaves neither means the kernel's pick.
  constexpr int kFirst = 10000, kRoom = 1000;
  if (low - kFirst >= kRoom) return {kFirst, low - 1};
  if (65535 - high >= kRoom) return {high + 1, 65535};
  return kFallback;
}

namespace {

// Binds 127.0.0.1:port (0: the kernel's choice) and returns the bound port, or
// 0 when that port is taken.
int try_bind(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw Error(fmt::format("cannot open a socket: {}", std::strerror(errno)));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  socklen_t len = sizeof(addr);
  int bound = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0)
    bound = ntohs(addr.sin_port);
  const int bind_errno = errno;
  close(fd);
  if (bound == 0 && port == 0)
    throw Error(fmt::format("cannot find a free port: {}", std::strerror(bind_errno)));
  return bound;
}

}  // namespace

int pick_free_port() {
  // A port from the ephemeral range can be free now and taken a moment later,
  // before rank 0 listens on it: every outgoing connection and every Gloo
  // listener draws from that range (a CI run met EADDRINUSE this way). Outside
  // it, only another explicit choice like this one can collide.
  std::ifstream file("/proc/sys/net/ipv4/ip_local_port_range");
  std::stringstream text;
  text << file.rdbuf();
  const PortRange range = quiet_port_range(text.str());
  if (range.first != 0) {
    std::mt19937 draw(std::random_device{}());
    std::uniform_int_distribution<int> port(range.first, range.last);
    for (int tries = 0; tries < 200; ++tries)
      if (const int bound = try_bind(port(draw))) return bound;
  }
  return try_bind(0);
}

}  // namespace cohort
