#include "models/command/process.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "core/error.hpp"

namespace ns::models::command {

namespace {

constexpr std::size_t kMaxLine = 1 << 20;

void close_fd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

// Splits complete lines off `buf`, calling on_line for each; at `eof` also the rest.
void emit_lines(std::string& buf, int stream, bool eof,
                const std::function<void(int, const std::string&)>& on_line) {
  std::size_t start = 0;
  for (std::size_t nl; (nl = buf.find('\n', start)) != std::string::npos; start = nl + 1)
    on_line(stream, buf.substr(start, std::min(nl - start, kMaxLine)));
  buf.erase(0, start);
  if (buf.size() > kMaxLine) {  // a runaway line: pass on its head, drop the rest up to '\n'
    on_line(stream, buf.substr(0, kMaxLine));
    buf.clear();
  }
  if (eof && !buf.empty()) {
    on_line(stream, buf);
    buf.clear();
  }
}

ExitStatus from_wait_status(int status) {
  ExitStatus e;
  if (WIFSIGNALED(status)) {
    e.signaled = true;
    e.code = WTERMSIG(status);
  } else {
    e.code = WEXITSTATUS(status);
  }
  return e;
}

}  // namespace

std::vector<std::string> program_candidates(const std::string& name, const std::string& path) {
  if (name.find('/') != std::string::npos) return {name};
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= path.size()) {
    std::size_t colon = path.find(':', start);
    if (colon == std::string::npos) colon = path.size();
    const std::string dir = path.substr(start, colon - start);
    out.push_back((dir.empty() ? std::string(".") : dir) + "/" + name);
    start = colon + 1;
  }
  return out;
}

std::string ExitStatus::describe() const {
  if (!signaled) return fmt::format("exited with code {}", code);
  const char* name = sigabbrev_np(code);
  return name ? fmt::format("killed by signal {} (SIG{})", code, name)
              : fmt::format("killed by signal {}", code);
}

namespace {

// What the child needs, prepared before the clone: the child shares this process's memory until
// it execs, so it may make system calls only (no allocation, no locks, no C++ objects).
struct SpawnArgs {
  char** argv;
  char** envp;
  const char* const* candidates;  ///< null-terminated
  const char* cwd;
  int out_w, err_w, status_w;
  pid_t parent;
};

int spawn_child(void* p) {
  const SpawnArgs& a = *static_cast<const SpawnArgs*>(p);
  ::setpgid(0, 0);
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != a.parent) ::_exit(127);  // the parent died before prctl
  // Every signal blocked (the parent blocked them before the clone): the parent's handlers
  // must not run here, in its memory. Default dispositions, then an empty mask, as exec'd
  // programs expect.
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  for (int s = 1; s < NSIG; ++s) {
    struct sigaction cur {};
    if (::sigaction(s, nullptr, &cur) != 0) continue;  // SIGKILL, SIGSTOP, glibc's own
    // A handler never survives; these are reset even when ignored (as with fork before).
    const bool reset = s == SIGINT || s == SIGTERM || s == SIGHUP || s == SIGPIPE ||
                       s == SIGUSR1 || s == SIGUSR2 || s == SIGQUIT || s == SIGCHLD;
    if (cur.sa_handler != SIG_DFL && (cur.sa_handler != SIG_IGN || reset))
      ::sigaction(s, &dfl, nullptr);
  }
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  const int devnull = ::open("/dev/null", O_RDONLY);
  if (devnull >= 0) ::dup2(devnull, 0);
  ::dup2(a.out_w, 1);
  ::dup2(a.err_w, 2);
  int e = 0;
  if (::chdir(a.cwd) != 0) {
    e = errno;
  } else {
    e = ENOENT;
    for (const char* const* c = a.candidates; *c; ++c) {
      ::execve(*c, a.argv, a.envp);
      if (errno != ENOENT) e = errno;  // found but not runnable: that is the error to tell
    }
  }
  const ssize_t w = ::write(a.status_w, &e, sizeof e);
  (void)w;
  ::_exit(127);
}

}  // namespace

ChildProcess::ChildProcess(const std::vector<std::string>& argv,
                           const std::vector<std::string>& env, const std::string& cwd) {
  NS_CHECK(!argv.empty() && !argv[0].empty(), "command: empty argv");
  // Everything the child needs is built before the clone: after it, only system calls.
  std::vector<char*> args, envp;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  for (const auto& e : env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  // execvpe searches the PATH of `env`, not ours; resolve it here from the child's PATH.
  std::string path_value = "/usr/local/bin:/usr/bin:/bin";
  for (const auto& e : env)
    if (e.rfind("PATH=", 0) == 0) path_value = e.substr(5);
  const std::vector<std::string> candidates = program_candidates(argv[0], path_value);
  std::vector<const char*> cand;
  for (const auto& c : candidates) cand.push_back(c.c_str());
  cand.push_back(nullptr);
  int out[2], err[2], status_pipe[2];
  NS_CHECK(::pipe2(out, O_CLOEXEC) == 0 && ::pipe2(err, O_CLOEXEC) == 0 &&
               ::pipe2(status_pipe, O_CLOEXEC) == 0,
           "command: pipe: {}", std::strerror(errno));
  SpawnArgs sa{args.data(), envp.data(), cand.data(), cwd.c_str(), out[1], err[1], status_pipe[1],
               ::getpid()};
  // clone(CLONE_VM | CLONE_VFORK), as posix_spawn does, not fork: fork copies this process's
  // page tables (LibTorch and its data: hundreds of MB), which cost ~17 ms per trial.
  std::vector<char> stack(256 * 1024);
  sigset_t all, old;
  sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &old);
  const pid_t pid =
      ::clone(spawn_child, stack.data() + stack.size(), CLONE_VM | CLONE_VFORK | SIGCHLD, &sa);
  const int clone_errno = errno;
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (pid < 0) {
    for (int fd : {out[0], out[1], err[0], err[1], status_pipe[0], status_pipe[1]}) ::close(fd);
    throw Error(fmt::format("command: clone: {}", std::strerror(clone_errno)));
  }
  pid_ = pid;
  ::close(out[1]);
  ::close(err[1]);
  ::close(status_pipe[1]);
  int child_errno = 0;
  ssize_t n;
  do {
    n = ::read(status_pipe[0], &child_errno, sizeof child_errno);
  } while (n < 0 && errno == EINTR);
  ::close(status_pipe[0]);
  out_fd_ = out[0];
  err_fd_ = err[0];
  if (n == static_cast<ssize_t>(sizeof child_errno)) {
    int st = 0;
    ::waitpid(pid_, &st, 0);
    pid_ = -1;
    close_fd(out_fd_);
    close_fd(err_fd_);
    throw Error(fmt::format("command: cannot run '{}' in {}: {}", argv[0], cwd,
                            std::strerror(child_errno)));
  }
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0 && !exit_) {
    signal_group(SIGKILL);
    int st = 0;
    while (::waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
    }
  }
  close_fd(out_fd_);
  close_fd(err_fd_);
}

bool ChildProcess::pump(std::chrono::milliseconds timeout,
                        const std::function<void(int, const std::string&)>& on_line) {
  pollfd fds[2];
  int n = 0;
  if (out_fd_ >= 0) fds[n++] = {out_fd_, POLLIN, 0};
  if (err_fd_ >= 0) fds[n++] = {err_fd_, POLLIN, 0};
  if (n == 0) return false;
  const int r = ::poll(fds, static_cast<nfds_t>(n), static_cast<int>(timeout.count()));
  if (r <= 0) return true;  // timeout, or EINTR: the caller polls again
  char buf[65536];
  for (int i = 0; i < n; ++i) {
    if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
    const bool is_out = fds[i].fd == out_fd_;
    std::string& line_buf = is_out ? out_buf_ : err_buf_;
    const ssize_t got = ::read(fds[i].fd, buf, sizeof buf);
    if (got > 0) {
      line_buf.append(buf, static_cast<std::size_t>(got));
      emit_lines(line_buf, is_out ? 1 : 2, false, on_line);
    } else if (got == 0 || (errno != EINTR && errno != EAGAIN)) {
      emit_lines(line_buf, is_out ? 1 : 2, true, on_line);
      close_fd(is_out ? out_fd_ : err_fd_);
    }
  }
  return out_fd_ >= 0 || err_fd_ >= 0;
}

std::optional<ExitStatus> ChildProcess::poll_exit() {
  if (exit_ || pid_ <= 0) return exit_;
  // Look without reaping first: while the leader is a zombie its process group id cannot be
  // reused, so what is left of the group (a background child of the program) can be ended.
  siginfo_t info{};
  if (::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT) != 0 ||
      info.si_pid != pid_)
    return exit_;
  signal_group(SIGKILL);
  int st = 0;
  while (::waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
  }
  exit_ = from_wait_status(st);
  return exit_;
}

void ChildProcess::signal_group(int sig) const {
  if (pid_ > 0) ::killpg(pid_, sig);
}

}  // namespace ns::models::command
