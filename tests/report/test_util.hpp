#pragma once
// Helpers for the report tests: the committed fixtures and scratch copies of them.
#include <stdlib.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

#include "support/temp_dir.hpp"

namespace ns::report::test {

/// tests/report/data/<name> in the source tree (NS_SOURCE_DIR is set by ns_add_test).
inline std::filesystem::path fixture(const std::string& name) {
  const char* src = std::getenv("NS_SOURCE_DIR");
  if (!src) throw std::runtime_error("NS_SOURCE_DIR is not set; run the test through ctest");
  return std::filesystem::path(src) / "tests" / "report" / "data" / name;
}

using ns::test::TempDir;

/// Copies fixture `name` into `dir`/<name> (so a test may write into it).
inline std::filesystem::path copy_fixture(const std::string& name,
                                          const std::filesystem::path& dir) {
  const auto to = dir / name;
  std::filesystem::copy(fixture(name), to, std::filesystem::copy_options::recursive);
  return to;
}

inline std::string read_text(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void write_text(const std::filesystem::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << text;
}

/// Runs a shell command, returning its exit status (-1 when it could not run).
inline int run_shell(const std::string& cmd) {
  const int rc = std::system(cmd.c_str());
  if (rc == -1) return -1;
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : 128 + WTERMSIG(rc);
}

/// Single-quotes `s` for /bin/sh.
inline std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

}  // namespace ns::report::test
