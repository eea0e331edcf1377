#include "models/command/process.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <dirent.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

#include <fmt/format.h>

#include "core/error.hpp"

namespace ns::models::command {

namespace {

void close_fd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
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

void split_lines(std::string& buf, bool eof, const std::function<void(const std::string&)>& on_line) {
  std::size_t start = 0;
  for (std::size_t nl; (nl = buf.find('\n', start)) != std::string::npos; start = nl + 1) {
    for (std::size_t at = start; at < nl; at += kMaxLine)  // a long line, in pieces
      on_line(buf.substr(at, std::min(nl - at, kMaxLine)));
    if (nl == start) on_line(std::string());
  }
  buf.erase(0, start);
  while (buf.size() > kMaxLine) {  // a runaway line without its newline yet: pass its head on
    on_line(buf.substr(0, kMaxLine));
    buf.erase(0, kMaxLine);
  }
  if (eof && !buf.empty()) {
    on_line(buf);
    buf.clear();
  }
}

void become_subreaper() {
  static const bool done = [] {
    // Linux 3.4+; elsewhere (or refused) strays go to init as before and are not found.
    ::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    return true;
  }();
  (void)done;
}

std::set<pid_t> children_of(pid_t parent) {
  std::set<pid_t> out;
  DIR* d = ::opendir("/proc");
  if (!d) return out;
  while (const dirent* e = ::readdir(d)) {
    char* end = nullptr;
    const long pid = std::strtol(e->d_name, &end, 10);
    if (pid <= 0 || *end != '\0') continue;
    char path[64], buf[512];
    std::snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;  // gone meanwhile
    const ssize_t n = ::read(fd, buf, sizeof buf - 1);
    ::close(fd);
    if (n <= 0) continue;
    buf[n] = '\0';
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so read after the last ')'.
    const char* close = std::strrchr(buf, ')');
    char state = 0;
    long ppid = 0;
    if (close && std::sscanf(close + 1, " %c %ld", &state, &ppid) == 2 && ppid == parent)
      out.insert(static_cast<pid_t>(pid));
  }
  ::closedir(d);
  return out;
}

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
  // c_str() would cut a string at a NUL, silently changing an argument: refuse it, whatever
  // its source (a parameter value, a search's proposal, a placeholder, the spec's env block).
  auto refuse_nul = [](const std::string& s, const std::string& what) {
    const auto at = s.find('\0');
    if (at == std::string::npos) return;
    std::string shown = s.substr(0, std::min<std::size_t>(at, 60));
    throw Error(fmt::format("command: {} holds a NUL byte after \"{}\" (byte {}); a program's "
                            "arguments and environment cannot hold one",
                            what, shown, at));
  };
  for (std::size_t i = 0; i < argv.size(); ++i) refuse_nul(argv[i], fmt::format("argv[{}]", i));
  for (const auto& e : env) refuse_nul(e, fmt::format("the variable {}", e.substr(0, std::min<std::size_t>(e.find('='), 60))));
  become_subreaper();
  before_ = children_of(::getpid());
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
  if (pid_ > 0) end_strays(std::chrono::milliseconds(0));
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
      split_lines(line_buf, false, [&](const std::string& l) { on_line(is_out ? 1 : 2, l); });
    } else if (got == 0 || (errno != EINTR && errno != EAGAIN)) {
      split_lines(line_buf, true, [&](const std::string& l) { on_line(is_out ? 1 : 2, l); });
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

int ChildProcess::end_strays(std::chrono::milliseconds grace) {
  const pid_t self = ::getpid();
  // The program's processes: the children this process did not have when it started (orphans
  // reparented here), and everything below them.
  auto strays = [&] {
    std::set<pid_t> direct;
    for (pid_t p : children_of(self))
      if (!before_.count(p) && p != pid_) direct.insert(p);
    std::vector<pid_t> all(direct.begin(), direct.end());
    for (std::size_t i = 0; i < all.size() && all.size() < 100000; ++i)
      for (pid_t c : children_of(all[i])) all.push_back(c);
    return std::make_pair(direct, all);
  };
  // Reaps those of the direct ones that ended, each by its pid.
  auto reap = [](const std::set<pid_t>& direct) {
    for (pid_t p : direct) {
      int st = 0;
      while (::waitpid(p, &st, WNOHANG) < 0 && errno == EINTR) {
      }
    }
  };
  // Counted: those outside the program's group (its members, killed with it, may still be
  // here for a moment: reparented zombies to reap).
  std::set<pid_t> signalled;
  const auto signal = [&](pid_t p, int sig) {
    const pid_t group = ::getpgid(p);
    if (::kill(p, sig) == 0 && group != pid_) signalled.insert(p);
  };
  auto [direct, all] = strays();
  if (all.empty()) return 0;
  for (pid_t p : all) signal(p, SIGTERM);
  const auto until = std::chrono::steady_clock::now() + grace;
  while (std::chrono::steady_clock::now() < until) {
    reap(strays().first);
    if (strays().second.empty()) return static_cast<int>(signalled.size());
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  // SIGKILL until none is left: a killed process's children reparent here, so look again.
  for (int round = 0; round < 200; ++round) {
    std::tie(direct, all) = strays();
    if (all.empty()) break;
    for (pid_t p : all) signal(p, SIGKILL);
    reap(direct);
    std::this_thread::sleep_for(std::chrono::milliseconds(round < 10 ? 1 : 10));
  }
  return static_cast<int>(signalled.size());
}

}  // namespace ns::models::command
