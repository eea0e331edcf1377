#include "core/file.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "core/error.hpp"

namespace ns::core {
namespace fs = std::filesystem;

void write_atomic_with(const fs::path& path, const std::function<void(const fs::path&)>& write,
                       int exit_code) {
  // The pid keeps two processes writing the same file from sharing a temporary.
  const fs::path tmp = path.string() + ".tmp." + std::to_string(::getpid());
  try {
    write(tmp);
  } catch (...) {
    std::error_code ec;
    fs::remove(tmp, ec);
    throw;
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) {
    fs::remove(tmp, ec);
    NS_FAIL_CODE(exit_code, "{}: cannot replace it: {}", path.string(), ec.message());
  }
}

void write_file_atomic(const fs::path& path, const std::string& text, int exit_code,
                       std::optional<fs::perms> perms) {
  write_atomic_with(
      path,
      [&](const fs::path& tmp) {
        {
          std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
          if (!out) {
            NS_FAIL_CODE(exit_code, "{}: cannot write: {} (does its directory exist and is it "
                         "writable?)", tmp.string(), std::strerror(errno));
          }
          out << text;
          out.flush();
          if (!out) NS_FAIL_CODE(exit_code, "{}: write failed (disk full?)", tmp.string());
        }
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

}  // namespace ns::core
