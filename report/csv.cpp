#include "report/csv.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "core/error.hpp"

namespace ns::report {

CsvTable read_csv(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  NS_CHECK(in.good(), "{}: cannot open for reading: {}", path.string(), std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  NS_CHECK(!in.bad(), "{}: read failed", path.string());
  return parse_csv(ss.str());
}

bool parse_number(const std::string& cell, double& out) {
  if (cell.empty()) return false;
  const char* begin = cell.c_str();
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(begin, &end);
  if (end == begin || *end != '\0') return false;
  // strtod also reads hex floats ("0x1p3"); pandas does not, so neither do we.
  if (cell.find_first_of("xX") != std::string::npos) return false;
  out = v;
  return true;
}

}  // namespace ns::report
