#pragma once
// Atomic file writes: write a temporary file in the same directory, then rename it over the
// target, so a reader (or a resumed run after a kill) never sees half a file.
#include <filesystem>
#include <functional>
#include <optional>
#include <string>

namespace ns::core {

/// Calls `write(tmp)` to write a temporary file next to `path`, then renames it to `path`.
/// On any failure the temporary is removed and ns::Error is thrown (exit code `exit_code`)
/// naming the file; exceptions from `write` pass through after the clean-up.
void write_atomic_with(const std::filesystem::path& path,
                       const std::function<void(const std::filesystem::path& tmp)>& write,
                       int exit_code = 1);

/// Writes `text` to `path` atomically (see write_atomic_with); `perms`, when given, are set on
/// the file before it is renamed into place.
void write_file_atomic(const std::filesystem::path& path, const std::string& text,
                       int exit_code = 1,
                       std::optional<std::filesystem::perms> perms = std::nullopt);

/// Refuses a `path` that exists but is not a regular file, before anything opens it (a FIFO
/// would block the open or the first read forever): throws ns::Error (exit 2)
/// "<what>: <path>: expected a regular file, got a directory" (or "a pipe, socket or device").
/// `what` names the spec field or flag ("$.data.path"). Returns false when nothing is at
/// `path` (the caller reports that with its own advice), true for a regular file.
bool require_regular_file(const std::string& path, const std::string& what);

}  // namespace ns::core
