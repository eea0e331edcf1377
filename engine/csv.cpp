#include "engine/csv.hpp"

#include <fstream>
#include <sstream>

#include "engine/error.hpp"

namespace ns::engine {

std::string csv_quote(const std::string& field) {
  if (field.find_first_of(",\"\r\n") == std::string::npos) return field;
  std::string out = "\"";
  for (char c : field) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

std::string csv_record(const std::vector<std::string>& fields) {
  std::string line;
  for (size_t i = 0; i < fields.size(); ++i) {
    if (i) line += ',';
    line += csv_quote(fields[i]);
  }
  line += '\n';
  return line;
}

CsvTable parse_csv(const std::string& text, const std::string& source) {
  CsvTable table;
  std::vector<std::string> record;
  std::string field;
  bool in_quotes = false, field_started = false;
  size_t line = 1, record_line = 1;
  auto end_record = [&](size_t end_pos) {
    record.push_back(field);
    field.clear();
    if (table.header.empty()) {
      table.header = record;
    } else if (!(record.size() == 1 && record[0].empty())) {  // skip blank lines
      if (record.size() != table.header.size()) {
        throw Error(fmt::format("{}: line {}: expected {} fields as in the header, found {}",
                                source, record_line, table.header.size(), record.size()));
      }
      table.rows.push_back(record);
    }
    record.clear();
    table.complete_bytes = end_pos;
    record_line = line;
  };
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_quotes) {
      if (c == '"') {
        if (i + 1 < text.size() && text[i + 1] == '"') {
          field += '"';
          ++i;
        } else {
          in_quotes = false;
        }
      } else {
        if (c == '\n') ++line;
        field += c;
      }
      continue;
    }
    if (c == '"' && field.empty() && !field_started) {
      in_quotes = true;
      field_started = true;
    } else if (c == ',') {
      record.push_back(field);
      field.clear();
      field_started = false;
    } else if (c == '\n') {
      ++line;
      end_record(i + 1);
      field_started = false;
    } else if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') {
      // CRLF: the LF ends the record
    } else {
      field += c;
      field_started = true;
    }
  }
  // Whatever is left had no terminating newline: a partial write.
  table.dropped_partial = !record.empty() || !field.empty() || in_quotes;
  return table;
}

CsvTable read_csv_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_csv(ss.str(), path);
}

}  // namespace ns::engine
