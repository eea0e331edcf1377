#pragma once
// A child program in its own process group, with its stdout and stderr read line by line: the
// `command` family's one process per trial. POSIX only (fork, execvp, poll, killpg).
#include <sys/types.h>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace ns::models::command {

/// Where execvp would look for `name` with this PATH value, in order: `name` itself when it
/// holds a '/', else each PATH directory joined with it ("" stands for ".").
std::vector<std::string> program_candidates(const std::string& name, const std::string& path);

/// How a child ended.
struct ExitStatus {
  bool signaled = false;  ///< killed by a signal (then `code` is the signal number)
  int code = 0;           ///< exit code, or the signal number
  /// "exited with code 3", "killed by signal 9 (SIGKILL)".
  std::string describe() const;
};

class ChildProcess {
 public:
  /// Starts `argv` (argv[0] looked up in PATH, exec'd directly: no shell, so no value is ever
  /// interpreted) in `cwd`, with `env` as its whole environment ("NAME=value"), in a new process
  /// group it leads, stdin from /dev/null. It gets SIGKILL if this process dies (Linux). Throws
  /// ns::Error when the program cannot be started (not found, not executable).
  ChildProcess(const std::vector<std::string>& argv, const std::vector<std::string>& env,
               const std::string& cwd);
  ~ChildProcess();  ///< kills the group and reaps the child if it still runs
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  /// Waits up to `timeout` for output; calls `on_line(stream, line)` (stream 1 = stdout, 2 =
  /// stderr) for every complete line (without its newline; a line longer than 1 MiB is cut),
  /// and at the end of a stream for its unterminated tail. Returns false once both streams are
  /// closed.
  bool pump(std::chrono::milliseconds timeout,
            const std::function<void(int stream, const std::string& line)>& on_line);
  /// The exit status once the child has ended (non-blocking), nullopt while it runs.
  std::optional<ExitStatus> poll_exit();
  /// Sends `sig` to the whole process group (ignored if it is gone).
  void signal_group(int sig) const;
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int out_fd_ = -1, err_fd_ = -1;
  std::string out_buf_, err_buf_;
  std::optional<ExitStatus> exit_;
};

}  // namespace ns::models::command
