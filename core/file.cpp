#include "core/file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/error.hpp"

namespace ns::core {
namespace fs = std::filesystem;

bool is_filesystem_errno(int e) {
  return e == ENOSPC || e == EDQUOT || e == EIO || e == EROFS || e == EFBIG;
}

namespace {

// write(2) until all of `text` is out: 0, or the errno of the write that failed (EIO for a
// write that wrote nothing without one).
int write_all(int fd, std::string_view text) {
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno;
    if (n == 0) return EIO;
    done += static_cast<std::size_t>(n);
  }
  return 0;
}

}  // namespace

int probe_write(const fs::path& dir) {
  const fs::path probe = dir / (".write_probe." + std::to_string(::getpid()));
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return errno;
  // One page: tmpfs and most filesystems allocate at least that for any data.
  int err = write_all(fd, std::string(4096, '\n'));
  if (err == 0 && ::fsync(fd) != 0) err = errno;
  if (::close(fd) != 0 && err == 0) err = errno;
  ::unlink(probe.c_str());
  return err;
}

void append_whole(int fd, const std::string& path, std::string_view text) {
  struct stat st {};
  if (::fstat(fd, &st) != 0)
    NS_FAIL_CODE(kExitInternal, "{}: cannot append: {}", path, std::strerror(errno));
  const int err = write_all(fd, text);
  if (err == 0) return;
  // Cut what did go out, so the file ends where it did: a reader never sees half a line.
  std::string cut;
  if (::ftruncate(fd, st.st_size) != 0)
    cut = fmt::format("; cutting it back to {} bytes failed too ({}): its last line may be torn",
                      st.st_size, std::strerror(errno));
  const std::string msg = fmt::format("{}: cannot append {} bytes: {}{}", path, text.size(),
                                      std::strerror(err), cut);
  if (is_filesystem_errno(err)) throw WriteError(path, err, msg);
  NS_FAIL_CODE(kExitInternal, "{}", msg);
}

void write_atomic_with(const fs::path& path, const std::function<void(const fs::path&)>& write,
                       int exit_code) {
  // The pid keeps two processes writing the same file from sharing a temporary.
  const fs::path tmp = path.string() + ".tmp." + std::to_string(::getpid());
  try {
    write(tmp);
  } catch (const WriteError&) {
    std::error_code ec;
    fs::remove(tmp, ec);
    throw;
  } catch (const std::exception& e) {
    // Probed while the temporary still holds what it took: a writer that ran out of space
    // (torch::save, HDF5) says only "file write failed", without errno.
    const fs::path dir = path.has_parent_path() ? path.parent_path() : fs::path(".");
    const int err = probe_write(dir);
    std::error_code ec;
    fs::remove(tmp, ec);
    if (is_filesystem_errno(err))
      throw WriteError(path.string(), err,
                       fmt::format("{}: cannot write: {} ({})", path.string(),
                                   std::strerror(err), e.what()));
    throw;
  } catch (...) {
    std::error_code ec;
    fs::remove(tmp, ec);
    throw;
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) {
    std::error_code ignored;
    fs::remove(tmp, ignored);
    if (is_filesystem_errno(ec.value()))
      throw WriteError(path.string(), ec.value(),
                       fmt::format("{}: cannot replace it: {}", path.string(), ec.message()));
    NS_FAIL_CODE(exit_code, "{}: cannot replace it: {}", path.string(), ec.message());
  }
}

void write_file_atomic(const fs::path& path, const std::string& text, int exit_code,
                       std::optional<fs::perms> perms) {
  write_atomic_with(
      path,
      [&](const fs::path& tmp) {
        const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
        int err = fd < 0 ? errno : write_all(fd, text);
        if (fd >= 0 && ::close(fd) != 0 && err == 0) err = errno;
        if (is_filesystem_errno(err))
          throw WriteError(path.string(), err, fmt::format("{}: cannot write: {}", path.string(),
                                                           std::strerror(err)));
        if (fd < 0)
          NS_FAIL_CODE(exit_code, "{}: cannot write: {} (does its directory exist and is it "
                       "writable?)", tmp.string(), std::strerror(err));
        if (err != 0)
          NS_FAIL_CODE(exit_code, "{}: write failed: {}", tmp.string(), std::strerror(err));
        if (perms) fs::permissions(tmp, *perms);
      },
      exit_code);
}

bool require_regular_file(const std::string& path, const std::string& what) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) return false;
    NS_FAIL_CODE(kExitBadInput, "{}: {}: cannot read it: {}", what, path, std::strerror(errno));
  }
  if (S_ISREG(st.st_mode)) return true;
  NS_FAIL_CODE(kExitBadInput, "{}: {}: expected a regular file, got {}", what, path,
               S_ISDIR(st.st_mode) ? "a directory" : "a pipe, socket or device");
}

bool is_plain_name(const std::string& name) {
  if (name.empty() || name.size() > 200 || name[0] == '.') return false;
  for (char c : name)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
          c == '_' || c == '-'))
      return false;
  return true;
}

}  // namespace ns::core
