#pragma once
// Atomic file writes: write a temporary file in the same directory, then rename it over the
// target, so a reader (or a resumed run after a kill) never sees half a file.
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "core/error.hpp"

namespace ns::core {

/// A write failed because of the filesystem, not the data: its errno is one of
/// is_filesystem_errno's (disk full, quota, I/O error, read-only, file too large). The message
/// names the file and strerror; the exit code is kExitCannotWrite.
class WriteError : public Error {
 public:
  WriteError(std::string path, int error_number, const std::string& message)
      : Error(message, kExitCannotWrite), path_(std::move(path)), errno_(error_number) {}
  const std::string& path() const { return path_; }
  int error_number() const { return errno_; }

 private:
  std::string path_;
  int errno_;
};

/// True for the errnos that say the filesystem refused a write whatever was written: ENOSPC,
/// EDQUOT, EIO, EROFS, EFBIG.
bool is_filesystem_errno(int error_number);

/// Writes and fsyncs a small file in the directory `dir`, then removes it: 0 when that worked,
/// else the errno of the step that failed. Tells whether a failure was the disk's.
int probe_write(const std::filesystem::path& dir);

/// Appends `text` to the file open on `fd` (O_APPEND, one writer) whole or not at all: a short
/// or failed write is cut back (ftruncate to the size before), so no torn line remains. Throws
/// WriteError for a filesystem errno, else ns::Error (exit 1), naming `path`.
void append_whole(int fd, const std::string& path, std::string_view text);

/// Calls `write(tmp)` to write a temporary file next to `path`, then renames it to `path`.
/// On any failure the temporary is removed and ns::Error is thrown (exit code `exit_code`)
/// naming the file; exceptions from `write` pass through after the clean-up, except that one
/// thrown while the directory cannot take a small write (probe_write: the disk is full, say,
/// which torch::save's errors do not tell) becomes a WriteError.
void write_atomic_with(const std::filesystem::path& path,
                       const std::function<void(const std::filesystem::path& tmp)>& write,
                       int exit_code = 1);

/// Writes `text` to `path` atomically (see write_atomic_with); `perms`, when given, are set on
/// the file before it is renamed into place. A filesystem errno throws WriteError.
void write_file_atomic(const std::filesystem::path& path, const std::string& text,
                       int exit_code = 1,
                       std::optional<std::filesystem::perms> perms = std::nullopt);

/// Refuses a `path` that exists but is not a regular file, before anything opens it (a FIFO
/// would block the open or the first read forever): throws ns::Error (exit 2)
/// "<what>: <path>: expected a regular file, got a directory" (or "a pipe, socket or device").
/// `what` names the spec field or flag ("$.data.path"). Returns false when nothing is at
/// `path` (the caller reports that with its own advice), true for a regular file.
bool require_regular_file(const std::string& path, const std::string& what);

/// True for a name that is safe as one path component, such as a sweep's runs/<name>: letters,
/// digits, '.', '_' and '-', at most 200, not starting with '.' (so neither "../../x", "/etc",
/// "." nor a hidden entry).
bool is_plain_name(const std::string& name);

}  // namespace ns::core
