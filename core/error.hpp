#pragma once
// One error type and one check macro for the whole project.
#include <fmt/format.h>

#include <stdexcept>
#include <string>

namespace ns {

/// Documented process exit codes (docs/guide/specs.md, "Exit codes").
enum ExitCode : int {
  kExitOk = 0,           ///< sweep finished (failed trials are data, not an error)
  kExitInternal = 1,     ///< a bug or an unexpected system error
  kExitBadInput = 2,     ///< bad command line, spec, dataset or output path; nothing written
  kExitInterrupted = 3,  ///< drained on a signal or deadline; rerun the same command to resume
  kExitLocked = 4,       ///< another run holds the output directory
  kExitCannotWrite = 5,  ///< the output directory cannot take writes (disk full, quota, I/O
                         ///< error, read-only); free space and rerun the same command to resume
};

/// The project's error: a message that says what was expected, what arrived and where,
/// plus the exit code `main` should use for it.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& msg, int exit_code = kExitBadInput)
      : std::runtime_error(msg), exit_code_(exit_code) {}
  int exit_code() const { return exit_code_; }

 private:
  int exit_code_;
};

}  // namespace ns

/// Throws ns::Error (exit code 2, bad input) with an fmt-formatted message unless `cond` holds.
#define NS_CHECK(cond, ...)                                  \
  do {                                                       \
    if (!(cond)) throw ::ns::Error(::fmt::format(__VA_ARGS__)); \
  } while (0)

/// Throws ns::Error with an explicit exit code.
#define NS_FAIL_CODE(code, ...) throw ::ns::Error(::fmt::format(__VA_ARGS__), (code))
