#include "report/csv.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "engine/error.hpp"

namespace ns::report {

CsvTable parse_csv(std::string_view text) {
  CsvTable table;
  std::size_t i = 0;
  const std::size_t n = text.size();
  if (text.substr(0, 3) == "\xEF\xBB\xBF") i = 3;
  std::size_t line = 1;
  bool have_header = false;

  while (i < n) {
    // pandas skips blank lines (skip_blank_lines=True); so do we.
    if (text[i] == '\n') {
      ++line, ++i;
      continue;
    }
    if (text[i] == '\r' && i + 1 < n && text[i + 1] == '\n') {
      ++line, i += 2;
      continue;
    }
    CsvRecord rec;
    rec.line = line;
    std::string field;
    bool complete = false;  // the record ended with a newline
    bool open_quote = false;
    while (i < n) {
      const char c = text[i];
      if (c == '"' && field.empty()) {
        // Quoted field: runs to the quote that is not doubled.
        ++i;
        open_quote = true;
        while (i < n) {
          if (text[i] == '"') {
            if (i + 1 < n && text[i + 1] == '"') {
              field += '"';
              i += 2;
              continue;
            }
            ++i;
            open_quote = false;
            break;
          }
          if (text[i] == '\n') ++line;
          field += text[i++];
        }
        if (open_quote) break;
        // Text between a closing quote and the next separator is not RFC 4180; keep it as
        // written rather than failing on a file a human edited.
        continue;
      }
      if (c == ',') {
        rec.fields.push_back(std::move(field));
        field.clear();
        ++i;
        continue;
      }
      if (c == '\n' || (c == '\r' && i + 1 < n && text[i + 1] == '\n')) {
        i += c == '\n' ? 1 : 2;
        ++line;
        complete = true;
        break;
      }
      field += c;
      ++i;
    }
    if (!complete) {
      // EOF inside the record: the writer was stopped mid-line (or mid-quote).
      table.dropped_partial = true;
      break;
    }
    rec.fields.push_back(std::move(field));
    if (!have_header) {
      table.header = std::move(rec.fields);
      have_header = true;
    } else {
      table.records.push_back(std::move(rec));
    }
  }
  return table;
}

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
