#include "launch/worker_group.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "cohort/error.h"
#include "cohort/rendezvous.h"

namespace cohort {
namespace {

void write_all(int fd, const std::string& text) {
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // our own output is gone; keep supervising anyway
    done += static_cast<size_t>(n);
  }
}

void close_fd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

}  // namespace

WorkerGroup::WorkerGroup(const LaunchOptions& options, int port) {
  workers_.reserve(options.nproc);
  try {
    for (int local = 0; local < options.nproc; ++local) spawn(options, local, port);
  } catch (...) {
    terminate(std::chrono::milliseconds(0));
    throw;
  }
}

WorkerGroup::~WorkerGroup() {
  if (!all_exited()) terminate(std::chrono::milliseconds(0));
  for (auto& w : workers_) {
    close_fd(w.out_fd);
    close_fd(w.err_fd);
  }
}

void WorkerGroup::spawn(const LaunchOptions& options, int local_rank, int port) {
  // Everything the child needs is built before fork: between fork and exec only
  // async-signal-safe calls are allowed (the parent may have threads).
  Environment env = process_environment();
  for (auto& [key, value] : worker_environment(options, local_rank, port)) env[key] = value;
  std::vector<std::string> env_text;
  for (auto& [key, value] : env) env_text.push_back(key + "=" + value);
  std::vector<char*> envp, argv;
  for (auto& e : env_text) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = options.command;
  const std::string exec_failure = fmt::format("cohort launch: cannot run '{}': ", args.at(0));
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  int out[2], err[2];
  if (pipe2(out, O_CLOEXEC) != 0) throw Error(fmt::format("pipe: {}", std::strerror(errno)));
  if (pipe2(err, O_CLOEXEC) != 0) {
    ::close(out[0]);
    ::close(out[1]);
    throw Error(fmt::format("pipe: {}", std::strerror(errno)));
  }
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) throw Error(fmt::format("fork: {}", std::strerror(errno)));
  if (pid == 0) {
    setpgid(0, 0);
    // The kernel kills us if the launcher dies, even by SIGKILL; the check
    // closes the race where it died before prctl ran.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(1);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    signal(SIGPIPE, SIG_DFL);
    dup2(out[1], STDOUT_FILENO);
    dup2(err[1], STDERR_FILENO);
    execvpe(argv[0], argv.data(), envp.data());
    // strerror is not async-signal-safe in general; glibc's table lookup for a
    // known errno is, and this child only writes and exits.
    const char* why = std::strerror(errno);
    (void)!::write(STDERR_FILENO, exec_failure.data(), exec_failure.size());
    (void)!::write(STDERR_FILENO, why, std::strlen(why));
    (void)!::write(STDERR_FILENO, "\n", 1);
    _exit(127);
  }
  setpgid(pid, pid);  // also from here, so killpg works before the child runs
  ::close(out[1]);
  ::close(err[1]);
  WorkerProcess w;
  w.rank = options.node_rank * options.nproc + local_rank;
  w.pid = pid;
  w.out_fd = out[0];
  w.err_fd = err[0];
  w.running = true;
  workers_.push_back(std::move(w));
}

void WorkerGroup::emit(WorkerProcess& w, const std::string& line, int to_fd) {
  write_all(to_fd, fmt::format("[rank {}] {}\n", w.rank, line));
  w.tail.push_back(line);
  if (w.tail.size() > kTailLines) w.tail.pop_front();
}

void WorkerGroup::forward(WorkerProcess& w, int& fd, std::string& partial, int to_fd) {
  char buffer[65536];
  ssize_t n = ::read(fd, buffer, sizeof(buffer));
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
  if (n <= 0) {  // end of stream: the last line may lack its newline
    if (!partial.empty()) emit(w, partial, to_fd);
    partial.clear();
    close_fd(fd);
    return;
  }
  partial.append(buffer, static_cast<size_t>(n));
  size_t start = 0;
  for (size_t nl; (nl = partial.find('\n', start)) != std::string::npos; start = nl + 1)
    emit(w, partial.substr(start, nl - start), to_fd);
  partial.erase(0, start);
}

void WorkerGroup::pump(std::chrono::milliseconds timeout, int wake_fd) {
  std::vector<pollfd> fds;
  std::vector<std::pair<WorkerProcess*, bool>> owners;  // (worker, is stderr)
  for (auto& w : workers_) {
    if (w.out_fd >= 0) {
      fds.push_back({w.out_fd, POLLIN, 0});
      owners.emplace_back(&w, false);
    }
    if (w.err_fd >= 0) {
      fds.push_back({w.err_fd, POLLIN, 0});
      owners.emplace_back(&w, true);
    }
  }
  if (wake_fd >= 0) fds.push_back({wake_fd, POLLIN, 0});
  if (fds.empty()) {
    std::this_thread::sleep_for(timeout);
    return;
  }
  int ready = ::poll(fds.data(), fds.size(), static_cast<int>(timeout.count()));
  if (ready <= 0) return;
  for (size_t i = 0; i < owners.size(); ++i) {
    if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
    auto& [w, is_err] = owners[i];
    if (is_err)
      forward(*w, w->err_fd, w->err_partial, STDERR_FILENO);
    else
      forward(*w, w->out_fd, w->out_partial, STDOUT_FILENO);
  }
}

std::vector<WorkerProcess*> WorkerGroup::reap() {
  std::vector<WorkerProcess*> exited;
  for (auto& w : workers_) {
    if (!w.running) continue;
    int status = 0;
    pid_t r = waitpid(w.pid, &status, WNOHANG);
    if (r == w.pid) {
      w.running = false;
      w.status = status;
      exited.push_back(&w);
    }
  }
  return exited;
}

bool WorkerGroup::all_exited() const {
  for (const auto& w : workers_)
    if (w.running) return false;
  return true;
}

int WorkerGroup::running_count() const {
  int n = 0;
  for (const auto& w : workers_) n += w.running ? 1 : 0;
  return n;
}

void WorkerGroup::signal_all(int sig) {
  // The whole process group: whatever a worker started goes too.
  for (auto& w : workers_)
    if (w.running) killpg(w.pid, sig);
}

void WorkerGroup::terminate(std::chrono::milliseconds grace) {
  signal_all(SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + grace;
  reap();
  while (!all_exited() && std::chrono::steady_clock::now() < deadline) {
    pump(std::chrono::milliseconds(50));
    reap();
  }
  signal_all(SIGKILL);
  for (auto& w : workers_) {
    if (!w.running) continue;
    int status = 0;
    while (waitpid(w.pid, &status, 0) < 0 && errno == EINTR) {
    }
    w.running = false;
    w.status = status;
  }
  // Children the workers left behind in their groups.
  for (auto& w : workers_) killpg(w.pid, SIGKILL);
}

void WorkerGroup::drain(std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  auto open = [this] {
    for (auto& w : workers_)
      if (w.out_fd >= 0 || w.err_fd >= 0) return true;
    return false;
  };
  while (open() && std::chrono::steady_clock::now() < deadline) pump(std::chrono::milliseconds(20));
}

}  // namespace cohort
