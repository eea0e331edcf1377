#pragma once
// The tests' one temporary directory: a fresh, unique directory (mkdtemp) under the system's
// temp folder, removed with everything in it when the object dies.
#include <stdlib.h>

#include <cerrno>
#include <filesystem>
#include <string>
#include <system_error>

namespace ns::test {

class TempDir {
 public:
  /// Makes <temp>/ns_<tag>_XXXXXX; the tag only says which test left it, should one survive.
  explicit TempDir(const std::string& tag = "test") : path(make(tag)) {}
  ~TempDir() {
    std::error_code ec;  // a destructor does not throw; a leftover is harmless
    std::filesystem::remove_all(path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  /// <path>/<name> as a string, for the APIs that take one.
  std::string file(const std::string& name) const { return (path / name).string(); }

  const std::filesystem::path path;

 private:
  static std::filesystem::path make(const std::string& tag) {
    std::string tmpl = (std::filesystem::temp_directory_path() / ("ns_" + tag + "_XXXXXX")).string();
    if (!::mkdtemp(tmpl.data()))
      throw std::filesystem::filesystem_error("mkdtemp", tmpl,
                                              std::error_code(errno, std::generic_category()));
    return tmpl;
  }
};

}  // namespace ns::test
