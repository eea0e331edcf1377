#pragma once
// A child program in its own process group, with its stdout and stderr read line by line: the
// `command` family's one process per trial. POSIX only (fork, execvp, poll, killpg).
#include <sys/types.h>

#include <chrono>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace ns::models::command {

/// Where execvp would look for `name` with this PATH value, in order: `name` itself when it
/// holds a '/', else each PATH directory joined with it ("" stands for ".").
std::vector<std::string> program_candidates(const std::string& name, const std::string& path);

/// The longest line pump() and split_lines() pass on; a longer one is cut into pieces this long.
constexpr std::size_t kMaxLine = std::size_t{1} << 20;

/// Splits the complete lines off `buf` (a stream's bytes so far), calling on_line(line) for each
/// without its newline; a line longer than kMaxLine is passed on in pieces of kMaxLine, so `buf`
/// never holds more than that between calls. At `eof` also the unterminated rest.
void split_lines(std::string& buf, bool eof, const std::function<void(const std::string&)>& on_line);

/// Makes this process the reaper of its orphaned descendants (prctl PR_SET_CHILD_SUBREAPER,
/// Linux): a program's grandchild that leaves its process group (setsid) and outlives its parent
/// becomes our child, so end_strays() can find and end it. Once per process; idempotent.
void become_subreaper();

/// The processes whose parent is `parent`, read from /proc/<pid>/stat.
std::set<pid_t> children_of(pid_t parent);

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
  /// ns::Error when the program cannot be started (not found, not executable) or an argv or
  /// env string holds a NUL byte (exec would cut the string there). Makes this process a
  /// subreaper (become_subreaper) and notes its children so far: they are not the program's.
  ChildProcess(const std::vector<std::string>& argv, const std::vector<std::string>& env,
               const std::string& cwd);
  ~ChildProcess();  ///< kills the group and reaps the child if it still runs
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  /// Waits up to `timeout` for output; calls `on_line(stream, line)` (stream 1 = stdout, 2 =
  /// stderr) for every complete line (without its newline; a line longer than kMaxLine comes in pieces),
  /// and at the end of a stream for its unterminated tail. Returns false once both streams are
  /// closed.
  bool pump(std::chrono::milliseconds timeout,
            const std::function<void(int stream, const std::string& line)>& on_line);
  /// The exit status once the child has ended (non-blocking), nullopt while it runs.
  std::optional<ExitStatus> poll_exit();
  /// Sends `sig` to the whole process group (ignored if it is gone).
  void signal_group(int sig) const;
  /// After the child has ended (poll_exit returned a status): ends every process the program
  /// left behind outside its process group (a `setsid` grandchild, a daemon): each new child of
  /// this process (one that was not a child when the program started; orphans reparent here,
  /// see become_subreaper) and their descendants get SIGTERM, then SIGKILL after `grace`; the
  /// direct children are reaped by pid (never waitpid(-1), which would steal other children's
  /// statuses). Returns how many it signalled outside the program's process group (members of
  /// the group it finds, being ended with the group, are signalled and reaped too, not counted).
  /// The destructor calls it with no grace.
  int end_strays(std::chrono::milliseconds grace);
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int out_fd_ = -1, err_fd_ = -1;
  std::string out_buf_, err_buf_;
  std::optional<ExitStatus> exit_;
  std::set<pid_t> before_;  ///< this process's children when the program started
};

}  // namespace ns::models::command
